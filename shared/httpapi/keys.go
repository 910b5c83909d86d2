package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// checkKeys reads the first JSON value of body and returns an *Error for a
// key that appears twice in one object, or a key of an object decoded into
// a struct that is not exactly (case-sensitively) the json name of one of
// its fields. encoding/json accepts both, because it matches names case
// insensitively and lets the last duplicate win. A client could then send
// a value that a proxy, a log or a moderation check reads differently.
// Values whose JSON type does not fit the target are left for the decoder
// to reject. A syntax error anywhere in the value comes back as the
// decoder's error, ahead of a key error found before it.
func checkKeys(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	// Numbers stay text, so a number too large for a float64 is left to
	// the real decode to judge.
	dec.UseNumber()

	k := keyChecker{dec: dec}
	err := k.value(t, "")
	// Token reports io.EOF also where the input ends inside a value.
	if errors.Is(err, io.EOF) && len(bytes.Trim(body, " \t\r\n")) > 0 {
		return io.ErrUnexpectedEOF
	}
	if err != nil {
		return err
	}

	return k.keyErr
}

// keyChecker reads one JSON value and keeps the first key error it finds.
type keyChecker struct {
	dec    *json.Decoder
	keyErr error
}

func (k *keyChecker) fail(err error) {
	if k.keyErr == nil {
		k.keyErr = err
	}
}

// value reads one value. t is the Go type it decodes into. A nil t is a
// type that takes an object of any shape, such as any or a type with its
// own UnmarshalJSON. path names the value in error messages.
func (k *keyChecker) value(t reflect.Type, path string) error {
	dec := k.dec
	tok, err := dec.Token()
	if err != nil {
		return err
	}

	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}

	t = target(t)
	if delim == '[' {
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}

		for i := 0; dec.More(); i++ {
			err := k.value(elem, path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return err
			}
		}

		_, err := dec.Token()
		return err
	}

	return k.object(t, path)
}

// object reads the members of an object whose '{' the decoder has just
// returned, and its closing '}'.
func (k *keyChecker) object(t reflect.Type, path string) error {
	dec := k.dec
	var fields map[string]reflect.Type
	var elem reflect.Type
	switch {
	case t == nil:
	case t.Kind() == reflect.Struct:
		fields = structFields(t)
	case t.Kind() == reflect.Map:
		elem = t.Elem()
	}

	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}

		key, _ := tok.(string)
		at := join(path, key)
		if seen[key] {
			k.fail(BadRequest("duplicate_field",
				"field "+Quote(at)+" appears more than once; send each "+
					"field once"))
		}
		seen[key] = true

		ft := elem
		if fields != nil {
			var ok bool
			if ft, ok = fields[key]; !ok {
				k.fail(unknownField(at, key, fields))
			}
		}

		if err := k.value(ft, at); err != nil {
			return err
		}
	}

	_, err := dec.Token()
	return err
}

func join(path, key string) string {
	if path == "" {
		return key
	}

	return path + "." + key
}

// unknownField returns the 400 *Error for key at path, with a hint when
// key differs from a field name only in case.
func unknownField(path, key string, fields map[string]reflect.Type) error {
	msg := "unknown field " + Quote(path)
	for name := range fields {
		if strings.EqualFold(name, key) {
			msg += "; field names are case-sensitive: did you mean " +
				strconv.Quote(name) + "?"
			break
		}
	}

	return BadRequest("unknown_field", msg)
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// target returns the type whose fields a JSON object fills when decoded
// into t: t without pointers, or nil when t takes an object of any shape.
func target(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}

	if t == nil || t.Kind() == reflect.Interface {
		return nil
	}

	// A type that decodes itself judges its own keys.
	pt := reflect.PointerTo(t)
	if pt.Implements(jsonUnmarshaler) || pt.Implements(textUnmarshaler) {
		return nil
	}

	return t
}

var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// structFields returns the JSON names of the fields that encoding/json
// decodes into struct type t, each with its Go type. It follows the rules
// of encoding/json: exported fields, names from the json tag, "-" skipped,
// fields of untagged embedded structs promoted, and among fields with one
// name the shallowest wins, a tagged one breaking a tie, else none.
func structFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}

	var all []field
	collectFields(t, 0, map[reflect.Type]bool{}, &all)
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].name != all[j].name {
			return all[i].name < all[j].name
		}
		if all[i].depth != all[j].depth {
			return all[i].depth < all[j].depth
		}
		return all[i].tagged && !all[j].tagged
	})

	fields := make(map[string]reflect.Type)
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].name == all[i].name {
			j++
		}

		// all[i] dominates unless another field at its depth ties with
		// it: both tagged or both untagged.
		if j == i+1 || all[i+1].depth > all[i].depth ||
			all[i].tagged != all[i+1].tagged {
			fields[all[i].name] = all[i].typ
		}
		i = j
	}

	fieldCache.Store(t, fields)
	return fields
}

type field struct {
	name   string
	typ    reflect.Type
	depth  int
	tagged bool
}

func collectFields(
	t reflect.Type,
	depth int,
	visited map[reflect.Type]bool,
	out *[]field,
) {
	if visited[t] {
		return
	}
	visited[t] = true
	defer delete(visited, t)

	for i := range t.NumField() {
		sf := t.Field(i)
		ft := sf.Type
		if sf.Anonymous && ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if !sf.IsExported() && !(sf.Anonymous && ft.Kind() == reflect.Struct) {
			continue
		}

		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}

		name, _, _ := strings.Cut(tag, ",")
		if !validTagName(name) {
			name = ""
		}

		if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
			collectFields(ft, depth+1, visited, out)
			continue
		}

		tagged := name != ""
		if !tagged {
			name = sf.Name
		}
		*out = append(*out, field{name: name, typ: sf.Type, depth: depth,
			tagged: tagged})
	}
}

// validTagName reports whether encoding/json takes s as a field name.
func validTagName(s string) bool {
	if s == "" {
		return false
	}

	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}

	return true
}
