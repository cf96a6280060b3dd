package postgres

// Migrations exposes the schema history so tests can build a database as
// an older release left it.
var Migrations = migrations
