package api

import _ "embed"

// openAPIDocument is the OpenAPI 3.1 description of every route, served at
// /openapi.json and kept true by TestOpenAPIMatchesRouter.
//
//go:embed openapi.json
var openAPIDocument []byte
