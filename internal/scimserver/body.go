package scimserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/scimbridge/scim-bridge/internal/mapping"
)

// readBody reads the whole body under the size limit.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(mbe.Limit)
		}
		return nil, badRequest(typeInvalidSyntax, "reading the request body failed")
	}
	return b, nil
}

// decodeObject reads a JSON object body.
func decodeObject(r *http.Request) (map[string]any, error) {
	b, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, badRequest(typeInvalidSyntax, "the request body is empty; send a JSON object")
	}
	if !utf8.Valid(b) {
		return nil, badRequest(typeInvalidValue, "the request body is not valid UTF-8; send JSON in UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badRequest(typeInvalidSyntax, "the request body is not valid JSON: %s", jsonProblem(err))
	}
	if dec.More() {
		return nil, badRequest(typeInvalidSyntax, "the request body holds more than one JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest(typeInvalidSyntax, "the request body must be a JSON object")
	}
	if err := mapping.CheckValues(m); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeInto reads a JSON body into v; an empty body leaves v as it is.
func decodeInto(r *http.Request, v any, what string) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if !utf8.Valid(b) {
		return badRequest(typeInvalidValue, "the request body is not valid UTF-8; send JSON in UTF-8")
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(v); err != nil {
		return badRequest(typeInvalidSyntax, "the %s is not valid JSON of its schema: %s", what, jsonProblem(err))
	}
	return nil
}

func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return te.Field + " must be " + te.Type.String() + ", not " + te.Value
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected end of input"
	}
	return "malformed"
}
