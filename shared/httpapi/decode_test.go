package httpapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kafkablog/blog/shared/httpapi"
)

type titleRequest struct {
	Title string `json:"title"`
}

// echoTitle decodes a titleRequest and sends it back, so a test can check
// what DecodeJSON stored.
func echoTitle(w http.ResponseWriter, r *http.Request) error {
	var req titleRequest
	if err := httpapi.DecodeJSON(w, r, &req); err != nil {
		return err
	}

	httpapi.WriteJSON(w, http.StatusOK, req)
	return nil
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// decodeErrorBody parses the JSON error body of rec and checks that it is
// one "error" object with exactly a non-empty code and message.
func decodeErrorBody(t testing.TB, rec *httptest.ResponseRecorder) errorBody {
	t.Helper()

	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}

	var outer map[string]map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &outer); err != nil {
		t.Fatalf("error body %q is not a JSON object of objects: %v",
			rec.Body.String(), err)
	}
	if len(outer) != 1 || outer["error"] == nil {
		t.Errorf("error body %s, want exactly one key \"error\"", rec.Body)
	}
	if len(outer["error"]) != 2 {
		t.Errorf("error object %v, want exactly the keys code and message",
			outer["error"])
	}

	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("decode error body %q: %v", rec.Body.String(), err)
	}
	if body.Error.Code == "" {
		t.Errorf("error body %s has an empty code", rec.Body)
	}
	if body.Error.Message == "" {
		t.Errorf("error body %s has an empty message", rec.Body)
	}

	return body
}

// bodyOfSize returns a valid titleRequest body of exactly n bytes.
func bodyOfSize(t testing.TB, n int) string {
	t.Helper()

	const frame = len(`{"title":""}`)
	if n < frame {
		t.Fatalf("body size %d is below the minimum %d", n, frame)
	}

	return `{"title":"` + strings.Repeat("a", n-frame) + `"}`
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()

	atLimit := bodyOfSize(t, httpapi.MaxBodyBytes)
	overLimit := bodyOfSize(t, httpapi.MaxBodyBytes+1)

	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantCode    string
		wantTitle   string
	}{
		{"valid object", "application/json", `{"title":"Hello"}`,
			http.StatusOK, "", "Hello"},
		{"charset parameter", "application/json; charset=utf-8",
			`{"title":"Hello"}`, http.StatusOK, "", "Hello"},
		{"upper-case media type", "Application/JSON; charset=UTF-8",
			`{"title":"Hello"}`, http.StatusOK, "", "Hello"},
		{"surrounding white space", "application/json",
			" \n{\"title\":\"Hello\"}\n ", http.StatusOK, "", "Hello"},
		{"multi-byte text", "application/json", `{"title":"שלום 🎉 <b>&"}`,
			http.StatusOK, "", "שלום 🎉 <b>&"},
		{"body exactly at the limit", "application/json", atLimit,
			http.StatusOK, "", atLimit[10 : len(atLimit)-2]},
		{"body one byte over the limit", "application/json", overLimit,
			http.StatusRequestEntityTooLarge, "body_too_large", ""},
		{"malformed JSON", "application/json", `{"title":`,
			http.StatusBadRequest, "malformed_json", ""},
		{"missing colon", "application/json", `{"title" "x"}`,
			http.StatusBadRequest, "malformed_json", ""},
		{"empty body", "application/json", "",
			http.StatusBadRequest, "malformed_json", ""},
		{"white space only", "application/json", " \n\t",
			http.StatusBadRequest, "malformed_json", ""},
		{"unknown field", "application/json", `{"title":"x","author":"y"}`,
			http.StatusBadRequest, "unknown_field", ""},
		{"wrong field type", "application/json", `{"title":5}`,
			http.StatusBadRequest, "invalid_field", ""},
		{"array instead of object", "application/json", `[{"title":"x"}]`,
			http.StatusBadRequest, "malformed_json", ""},
		{"string instead of object", "application/json", `"x"`,
			http.StatusBadRequest, "malformed_json", ""},
		{"trailing second object", "application/json",
			`{"title":"a"}{"title":"b"}`,
			http.StatusBadRequest, "malformed_json", ""},
		{"trailing closing brace", "application/json", `{"title":"a"}}`,
			http.StatusBadRequest, "malformed_json", ""},
		{"trailing closing bracket", "application/json", `{"title":"a"}]`,
			http.StatusBadRequest, "malformed_json", ""},
		{"trailing text", "application/json", `{"title":"a"} x`,
			http.StatusBadRequest, "malformed_json", ""},
		{"invalid UTF-8 in a string", "application/json",
			"{\"title\":\"caf\xe9\"}", http.StatusBadRequest, "invalid_utf8", ""},
		{"truncated multi-byte rune", "application/json",
			"{\"title\":\"\xf0\x9f\x8e\"}", http.StatusBadRequest,
			"invalid_utf8", ""},
		{"text/plain", "text/plain", `{"title":"x"}`,
			http.StatusUnsupportedMediaType, "unsupported_media_type", ""},
		{"missing content type", "", `{"title":"x"}`,
			http.StatusUnsupportedMediaType, "unsupported_media_type", ""},
		{"form content type", "application/x-www-form-urlencoded",
			"title=x", http.StatusUnsupportedMediaType,
			"unsupported_media_type", ""},
		{"unparsable content type", "application/json; charset", `{}`,
			http.StatusUnsupportedMediaType, "unsupported_media_type", ""},
		// encoding/json keeps the last of duplicate keys and matches names
		// case insensitively; DecodeJSON accepts neither.
		{"duplicate key", "application/json", `{"title":"a","title":"b"}`,
			http.StatusBadRequest, "duplicate_field", ""},
		{"duplicate key spelt with an escape", "application/json",
			`{"title":"a","t\u0069tle":"b"}`,
			http.StatusBadRequest, "duplicate_field", ""},
		{"empty key", "application/json", `{"title":"a","":1}`,
			http.StatusBadRequest, "unknown_field", ""},
		{"upper-case key", "application/json", `{"TITLE":"x"}`,
			http.StatusBadRequest, "unknown_field", ""},
		{"capitalised key", "application/json", `{"Title":"x"}`,
			http.StatusBadRequest, "unknown_field", ""},
		{"key differing in case after the real one", "application/json",
			`{"title":"a","tItle":"b"}`,
			http.StatusBadRequest, "unknown_field", ""},
		{"Kelvin sign folds to k", "application/json",
			"{\"title\":\"a\",\"titl\u212a\":\"b\"}",
			http.StatusBadRequest, "unknown_field", ""},
		{"key spelt with an escape", "application/json",
			`{"t\u0069tle":"Hello"}`, http.StatusOK, "", "Hello"},
		{"truncated after a key", "application/json", `{"title":"a","title"`,
			http.StatusBadRequest, "malformed_json", ""},
		{"number too large for float64", "application/json",
			`{"title":1e999}`, http.StatusBadRequest, "invalid_field", ""},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			req := httptest.NewRequest(http.MethodPost, "/posts",
				strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			rec := httptest.NewRecorder()
			httpapi.HandlerFunc(echoTitle).ServeHTTP(rec, req)

			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d, want %d; body %s",
					rec.Code, tc.wantStatus, rec.Body)
			}

			if tc.wantCode == "" {
				var got titleRequest
				if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
					t.Fatalf("decode echoed body %q: %v", rec.Body.String(), err)
				}
				if got.Title != tc.wantTitle {
					t.Errorf("decoded title = %q, want %q", got.Title, tc.wantTitle)
				}
				return
			}

			body := decodeErrorBody(t, rec)
			if body.Error.Code != tc.wantCode {
				t.Errorf("error code = %q, want %q; message %q",
					body.Error.Code, tc.wantCode, body.Error.Message)
			}
		})
	}
}

func TestDecodeJSON_unknownFieldNamed(t *testing.T) {
	t.Parallel()

	req := httptest.NewRequest(http.MethodPost, "/posts",
		strings.NewReader(`{"title":"x","author":"y"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	httpapi.HandlerFunc(echoTitle).ServeHTTP(rec, req)

	body := decodeErrorBody(t, rec)
	if !strings.Contains(body.Error.Message, `"author"`) {
		t.Errorf("message %q does not name the unknown field \"author\"",
			body.Error.Message)
	}
}

func TestDecodeJSON_messages(t *testing.T) {
	t.Parallel()

	longKey := strings.Repeat("k", 10_000)
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"duplicate names the key", `{"title":"a","title":"b"}`,
			[]string{`"title"`, "more than once"}},
		{"case hint", `{"TITLE":"x"}`,
			[]string{`"TITLE"`, `did you mean "title"`}},
		{"truncated is not empty", `{"title":`,
			[]string{"not valid JSON"}},
		{"long key cut", `{"` + longKey + `":1}`,
			[]string{`"` + longKey[:httpapi.MaxEcho] + `"…`, "10000 bytes"}},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			req := httptest.NewRequest(http.MethodPost, "/posts",
				strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			httpapi.HandlerFunc(echoTitle).ServeHTTP(rec, req)

			body := decodeErrorBody(t, rec)
			for _, want := range tc.want {
				if !strings.Contains(body.Error.Message, want) {
					t.Errorf("message %q does not contain %q",
						body.Error.Message, want)
				}
			}
			if len(rec.Body.Bytes()) > 512 {
				t.Errorf("error body is %d bytes, want at most 512",
					rec.Body.Len())
			}
		})
	}
}

type person struct {
	Name string `json:"name"`
}

// Base is embedded without a tag, so its fields count as the outer
// struct's own.
type Base struct {
	ID     string `json:"id"`
	Hidden string `json:"-"`
}

type nestedRequest struct {
	Base
	Author  person            `json:"author"`
	Editor  *person           `json:"editor,omitempty"`
	Readers []person          `json:"readers"`
	Labels  map[string]string `json:"labels"`
	Extra   any               `json:"extra"`
	Raw     json.RawMessage   `json:"raw"`
	Untag   string
	Dash    string `json:"-,"`
}

func TestDecodeJSON_nested(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		body     string
		wantCode string
		wantIn   string
	}{
		{"every field", `{"id":"1","author":{"name":"a"},` +
			`"editor":{"name":"e"},"readers":[{"name":"r"}],` +
			`"labels":{"x":"1","X":"2"},"extra":{"any":[1,{"k":2}]},` +
			`"raw":{"Any":1,"any":2},"Untag":"u","-":"d"}`, "", ""},
		{"nested duplicate", `{"author":{"name":"a","name":"b"}}`,
			"duplicate_field", `"author.name"`},
		{"nested wrong case", `{"author":{"Name":"a"}}`,
			"unknown_field", `"author.Name"`},
		{"nested unknown", `{"author":{"name":"a","admin":true}}`,
			"unknown_field", `"author.admin"`},
		{"pointer struct wrong case", `{"editor":{"NAME":"a"}}`,
			"unknown_field", `"editor.NAME"`},
		{"struct in array", `{"readers":[{"name":"a"},{"name":"b","x":1}]}`,
			"unknown_field", `"readers[1].x"`},
		{"duplicate in array", `{"readers":[{"name":"a","name":"b"}]}`,
			"duplicate_field", `"readers[0].name"`},
		{"duplicate map key", `{"labels":{"x":"1","x":"2"}}`,
			"duplicate_field", `"labels.x"`},
		{"duplicate inside any", `{"extra":{"a":{"b":1,"b":2}}}`,
			"duplicate_field", `"extra.a.b"`},
		{"duplicate inside raw", `{"raw":{"a":1,"a":2}}`,
			"duplicate_field", `"raw.a"`},
		{"embedded field wrong case", `{"Id":"1"}`, "unknown_field", `"Id"`},
		{"embedded struct by its type name", `{"Base":{"id":"1"}}`,
			"unknown_field", `"Base"`},
		{"field skipped by its tag", `{"Hidden":"h"}`,
			"unknown_field", `"Hidden"`},
		{"untagged field wrong case", `{"untag":"u"}`,
			"unknown_field", `"untag"`},
		{"dash field by its Go name", `{"Dash":"d"}`,
			"unknown_field", `"Dash"`},
		{"object for a string is a type error", `{"id":{"a":1}}`,
			"invalid_field", ""},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			req := httptest.NewRequest(http.MethodPost, "/",
				strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			var dst nestedRequest
			err := httpapi.DecodeJSON(httptest.NewRecorder(), req, &dst)

			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("DecodeJSON(%s) = %v, want nil", tc.body, err)
				}
				if dst.ID != "1" || dst.Editor == nil ||
					dst.Editor.Name != "e" || dst.Dash != "d" ||
					dst.Labels["X"] != "2" {
					t.Errorf("decoded %+v, want every field set", dst)
				}
				return
			}

			apiErr := asAPIError(t, err)
			if apiErr.Status != http.StatusBadRequest ||
				apiErr.Code != tc.wantCode {
				t.Errorf("error %d %s, want 400 %s", apiErr.Status,
					apiErr.Code, tc.wantCode)
			}
			if !strings.Contains(apiErr.Message, tc.wantIn) {
				t.Errorf("message %q does not name %s", apiErr.Message,
					tc.wantIn)
			}
		})
	}
}

func TestText(t *testing.T) {
	t.Parallel()

	const maxRunes = 200
	emoji200 := strings.Repeat("😀", 200)
	accented200 := strings.Repeat("é", 200)

	tests := []struct {
		name     string
		value    string
		want     string
		wantCode string
	}{
		{"plain text", "Hello", "Hello", ""},
		{"surrounding white space trimmed", " \t Hello world \n", "Hello world",
			""},
		{"inner white space kept", "a  b\tc", "a  b\tc", ""},
		{"200 four-byte emoji", emoji200, emoji200, ""},
		{"200 emoji with surrounding spaces", "  " + emoji200 + "  ", emoji200,
			""},
		{"201 four-byte emoji", emoji200 + "😀", "", "field_too_long"},
		{"200 two-byte runes", accented200, accented200, ""},
		{"201 two-byte runes", accented200 + "é", "", "field_too_long"},
		{"HTML and RTL kept", " <b>שלום</b> & ", "<b>שלום</b> &", ""},
		{"empty", "", "", "missing_field"},
		{"white space only", " \t\r\n ", "", "missing_field"},
		{"Unicode spaces only", "\u00a0\u2003\u3000", "", "missing_field"},
		{"NUL inside", "a\x00b", "", "invalid_field"},
		{"NUL only", "\x00", "", "invalid_field"},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			got, err := httpapi.Text("title", tc.value, maxRunes)
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("Text returned %v, want nil", err)
				}
				if got != tc.want {
					t.Errorf("Text = %q, want %q", got, tc.want)
				}
				return
			}

			apiErr := asAPIError(t, err)
			if apiErr.Status != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", apiErr.Status)
			}
			if apiErr.Code != tc.wantCode {
				t.Errorf("code = %q, want %q", apiErr.Code, tc.wantCode)
			}
			if !strings.Contains(apiErr.Message, "title") {
				t.Errorf("message %q does not name the field title",
					apiErr.Message)
			}
		})
	}
}

func TestText_tooLongNamesCount(t *testing.T) {
	t.Parallel()

	_, err := httpapi.Text("comment", strings.Repeat("🎉", 2001), 2000)
	apiErr := asAPIError(t, err)
	if !strings.Contains(apiErr.Message, "2001") {
		t.Errorf("message %q does not give the length 2001", apiErr.Message)
	}
	if !strings.Contains(apiErr.Message, "2000") {
		t.Errorf("message %q does not give the maximum 2000", apiErr.Message)
	}
}

// asAPIError fails the test unless err is an *httpapi.Error.
func asAPIError(t testing.TB, err error) *httpapi.Error {
	t.Helper()

	var apiErr *httpapi.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error = %v (%T), want *httpapi.Error", err, err)
	}

	return apiErr
}

func TestParseID(t *testing.T) {
	t.Parallel()

	const valid = "0193a7c2-5b1e-7c3d-8e4f-123456789abc"
	tests := []struct {
		name    string
		value   string
		wantErr bool
	}{
		{"lower case", valid, false},
		{"upper case", strings.ToUpper(valid), false},
		{"empty", "", true},
		{"word", "latest", true},
		{"one digit short", valid[:35], true},
		{"one digit long", valid + "0", true},
		{"non-hex digit", "0193a7c2-5b1e-7c3d-8e4f-123456789abg", true},
		{"dashes moved", "0193a7c25-b1e-7c3d-8e4f-123456789abc", true},
		{"no dashes", strings.ReplaceAll(valid, "-", ""), true},
		{"braces", "{" + valid + "}", true},
		{"URN form", "urn:uuid:" + valid, true},
		{"trailing space", valid + " ", true},
		{"path traversal", "../" + valid[3:], true},
		{"encoded slash", valid[:8] + "%2F" + valid[11:], true},
		{"500 KB", strings.Repeat("a", 500_000), true},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			id, err := httpapi.ParseID("post id", tc.value)
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("ParseID(%q) returned %v, want nil", tc.value, err)
				}
				if id.String() != valid {
					t.Errorf("ParseID(%q) = %s, want %s", tc.value, id, valid)
				}
				return
			}

			apiErr := asAPIError(t, err)
			if apiErr.Status != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", apiErr.Status)
			}
			if apiErr.Code != "invalid_id" {
				t.Errorf("code = %q, want invalid_id", apiErr.Code)
			}
			if !strings.Contains(apiErr.Message, "post id") {
				t.Errorf("message %q does not name the parameter", apiErr.Message)
			}
		})
	}
}

// TestParseID_longValueCut covers a hostile id of 500 KB: the message
// quotes only a short prefix, cut on a rune boundary, and gives the length.
func TestParseID_longValueCut(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		value      string
		wantPrefix string
	}{
		{"ASCII", strings.Repeat("a", 512_000), strings.Repeat("a", 64)},
		{"emoji cut inside a rune", "a" + strings.Repeat("😀", 128_000),
			"a" + strings.Repeat("😀", 15)},
		{"invalid bytes", strings.Repeat("\xff", 1000),
			strings.Repeat(`\xff`, 64)},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			_, err := httpapi.ParseID("post id", tc.value)
			apiErr := asAPIError(t, err)

			if apiErr.Code != "invalid_id" {
				t.Errorf("code = %q, want invalid_id", apiErr.Code)
			}
			if len(apiErr.Message) > 400 {
				t.Errorf("message is %d bytes, want at most 400",
					len(apiErr.Message))
			}
			if !utf8.ValidString(apiErr.Message) {
				t.Errorf("message %q is not valid UTF-8", apiErr.Message)
			}
			want := `"` + tc.wantPrefix + `"…`
			if !strings.Contains(apiErr.Message, want) {
				t.Errorf("message %q does not contain %s", apiErr.Message,
					want)
			}
			size := strconv.Itoa(len(tc.value)) + " bytes"
			if !strings.Contains(apiErr.Message, size) {
				t.Errorf("message %q does not give the length %s",
					apiErr.Message, size)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()

	at := strings.Repeat("b", httpapi.MaxEcho)
	tests := []struct {
		in, want string
	}{
		{"", `""`},
		{"abc", `"abc"`},
		{at, `"` + at + `"`},
		{at + "c", `"` + at + `"… (65 bytes in all)`},
		{strings.Repeat("é", 40), `"` + strings.Repeat("é", 32) +
			`"… (80 bytes in all)`},
		{"a\x00" + at, `"a\x00` + at[:62] + `"… (66 bytes in all)`},
	}

	for _, tc := range tests {
		if got := httpapi.Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%.20q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestLimit(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		query   string
		want    int
		wantErr bool
	}{
		{"absent", "", 50, false},
		{"empty value", "?limit=", 50, false},
		{"minimum", "?limit=1", 1, false},
		{"maximum", "?limit=500", 500, false},
		{"zero", "?limit=0", 0, true},
		{"negative", "?limit=-1", 0, true},
		{"over maximum", "?limit=501", 0, true},
		{"not a number", "?limit=ten", 0, true},
		{"fraction", "?limit=1.5", 0, true},
		{"overflow", "?limit=99999999999999999999", 0, true},
		{"100 KB", "?limit=" + strings.Repeat("9", 100_000), 0, true},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			req := httptest.NewRequest(http.MethodGet, "/posts"+tc.query, nil)
			got, err := httpapi.Limit(req, 50, 500)
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Limit(%s) returned %v, want nil", tc.query, err)
				}
				if got != tc.want {
					t.Errorf("Limit(%s) = %d, want %d", tc.query, got, tc.want)
				}
				return
			}

			apiErr := asAPIError(t, err)
			if apiErr.Status != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", apiErr.Status)
			}
			if apiErr.Code != "invalid_limit" {
				t.Errorf("code = %q, want invalid_limit", apiErr.Code)
			}
			if !strings.Contains(apiErr.Message, "500") {
				t.Errorf("message %q does not give the maximum 500",
					apiErr.Message)
			}
			if len(apiErr.Message) > 200 {
				t.Errorf("message is %d bytes, want at most 200",
					len(apiErr.Message))
			}
		})
	}
}
