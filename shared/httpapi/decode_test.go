package httpapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
		})
	}
}
