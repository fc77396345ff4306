package api

import (
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// openapiJSON is openapi.yaml as JSON, served at /v1/openapi.json. It is
// converted once at start; a document that does not convert is a build
// error caught by the tests.
var openapiJSON = mustJSON(openapi)

func mustJSON(y []byte) []byte {
	var doc any
	if err := yaml.Unmarshal(y, &doc); err != nil {
		panic(fmt.Sprintf("api: openapi.yaml: %v", err))
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("api: openapi.yaml to JSON: %v", err))
	}
	return b
}
