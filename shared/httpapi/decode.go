package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// MaxBodyBytes is the largest request body a route accepts.
const MaxBodyBytes = 16 << 10

// DecodeJSON reads a JSON object of at most MaxBodyBytes into dst. It
// returns an *Error with status 415 for a content type other than JSON and
// 413 for a larger body. It returns 400 for invalid UTF-8, malformed JSON
// or data after the object. It also returns 400 for a key that appears
// twice in one object (duplicate_field), or a key that is not exactly,
// case included, the json name of a field of the struct it fills
// (unknown_field), at any depth.
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return NewError(http.StatusRequestEntityTooLarge, "body_too_large",
				fmt.Sprintf("request body is larger than %d bytes",
					MaxBodyBytes))
		}

		return BadRequest("unreadable_body", "request body could not be read")
	}

	if !utf8.Valid(body) {
		return BadRequest("invalid_utf8", "request body is not valid UTF-8")
	}

	if err := checkKeys(body, reflect.TypeOf(dst)); err != nil {
		return decodeError(err)
	}

	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}

	// Decoder.More reports false before a stray '}' or ']', so the check
	// is that only white space follows the object.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BadRequest("malformed_json",
			"request body must contain a single JSON object")
	}

	return nil
}

func checkContentType(value string) error {
	mediaType, _, err := mime.ParseMediaType(value)
	if err != nil || mediaType != "application/json" {
		return NewError(http.StatusUnsupportedMediaType,
			"unsupported_media_type",
			"Content-Type must be application/json")
	}

	return nil
}

func decodeError(err error) error {
	var apiErr *Error
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.Is(err, io.EOF):
		return BadRequest("malformed_json", "request body is empty")
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("malformed_json", "request body is not valid JSON")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return BadRequest("malformed_json",
				"request body must be a JSON object")
		}
		return BadRequest("invalid_field",
			fmt.Sprintf("field %s must be a %s", Quote(typeErr.Field),
				typeErr.Type.Kind()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// checkKeys has already rejected unknown keys; this stays as a
		// second line of defence.
		field := strings.TrimPrefix(err.Error(), "json: unknown field ")
		if unquoted, err := strconv.Unquote(field); err == nil {
			field = unquoted
		}
		return BadRequest("unknown_field", "unknown field "+Quote(field))
	default:
		return BadRequest("malformed_json", "request body is not valid JSON")
	}
}

// Text trims surrounding white space from value and checks that the result
// has from 1 to maxRunes code points. field names the value in the error.
func Text(field, value string, maxRunes int) (string, error) {
	trimmed := strings.TrimSpace(value)
	n := utf8.RuneCountInString(trimmed)
	switch {
	case n == 0:
		return "", BadRequest("missing_field",
			fmt.Sprintf("%s is required and must not be blank", field))
	case n > maxRunes:
		return "", BadRequest("field_too_long",
			fmt.Sprintf("%s is %d characters long; the maximum is %d",
				field, n, maxRunes))
	case strings.ContainsRune(trimmed, 0):
		return "", BadRequest("invalid_field",
			fmt.Sprintf("%s must not contain NUL characters", field))
	}

	return trimmed, nil
}

// ParseID parses a path parameter as a UUID and returns a 400 *Error for
// anything else. The message quotes at most the first MaxEcho bytes of
// value.
func ParseID(name, value string) (uuid.UUID, error) {
	if len(value) != 36 {
		return uuid.Nil, invalidID(name, value)
	}

	id, err := uuid.Parse(value)
	if err != nil {
		return uuid.Nil, invalidID(name, value)
	}

	return id, nil
}

func invalidID(name, value string) error {
	return BadRequest("invalid_id", name+" "+Quote(value)+
		" is not a UUID such as 0193a7c2-5b1e-7c3d-8e4f-123456789abc")
}

// MaxEcho is the most bytes of a client's value that an error message
// quotes.
const MaxEcho = 64

// Quote returns s in Go quotes for an error message. A value longer than
// MaxEcho bytes is cut to its first MaxEcho bytes, less a trailing partial
// UTF-8 sequence, followed by "…" and its full length, so a hostile value
// cannot make a large error body.
func Quote(s string) string {
	if len(s) <= MaxEcho {
		return strconv.Quote(s)
	}

	return fmt.Sprintf("%s… (%d bytes in all)", strconv.Quote(prefix(s)),
		len(s))
}

// prefix returns the first MaxEcho bytes of s, less a trailing partial
// UTF-8 sequence.
func prefix(s string) string {
	n := min(len(s), MaxEcho)
	// Step back over at most the first bytes of one UTF-8 sequence; a
	// longer run of continuation bytes is invalid anyway, and
	// strconv.Quote escapes it.
	for i := 1; i < utf8.UTFMax && n < len(s) && !utf8.RuneStart(s[n]); i++ {
		n--
	}

	return s[:n]
}

// Limit reads the limit query parameter: def when absent, otherwise a whole
// number from 1 to max, else a 400 *Error.
func Limit(r *http.Request, def, max int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}

	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, BadRequest("invalid_limit",
			fmt.Sprintf("limit %s must be a whole number from 1 to %d",
				Quote(v), max))
	}

	return n, nil
}
