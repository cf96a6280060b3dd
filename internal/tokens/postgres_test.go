package tokens

// postgresBackend is filled in once store/postgres lands; until then the
// replica tests run on sqlite only.
func postgresBackend() (backend, bool) { return backend{}, false }
