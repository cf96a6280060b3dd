package filter

import (
	"errors"
	"reflect"
	"testing"

	scimfilter "github.com/scim2/filter-parser/v2"

	"github.com/scimbridge/scim-bridge/internal/mapping"
)

// comparisons are texts parseComparison reads itself.
var comparisons = []string{
	`userName eq "ada@example.com"`,
	`userName EQ "ada@example.com"`,
	`userName   Eq   "ada@example.com"`,
	`externalId eq "00u1abc"`,
	`emails.value co "example"`,
	`name.familyName sw "Love"`,
	`displayName ne ""`,
	`meta.lastModified gt "2026-01-01T00:00:00Z"`,
	`$ref le "x"`,
	"user_name-2 ge \"é ünïcode 😀 \x7f ' ] [ ( ) and or not\"",
	`id lt "a"`,
	`userName ew "@example.com"`,
}

// notComparisons are texts parseComparison leaves to the general parser,
// valid filters or not.
var notComparisons = []string{
	``,
	`userName pr`,
	`userName eq "a" and active eq true`,
	`userName eq "a" or userName eq "b"`,
	`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"`,
	`emails[type eq "work"]`,
	`emails[type eq "work"].value eq "x"`,
	`not (userName eq "a")`,
	`(userName eq "a")`,
	`active eq true`,
	`meta.version eq null`,
	`x eq 12`,
	`userName eq "a \"quoted\""`,
	`userName eq "tab	inside"`,
	"userName eq \"nul\x00\"",
	"userName eq \"bad \xff utf8\"",
	`userName eq "a"b"`,
	`userName eq "a`,
	`userName eq "a\"`,
	`userName eq a"`,
	`userName eq"a"`,
	`userNameeq "a"`,
	`userName xx "a"`,
	`userName eqq "a"`,
	`a.b.c eq "x"`,
	`.a eq "x"`,
	`1a eq "x"`,
	`a. eq "x"`,
	`$ eq "x"`,
	` userName eq "a"`,
	`userName eq "a" `,
}

// TestComparisonIsTheParsersExpression: what parseComparison reads is
// exactly what the general parser makes of the same text, and it reads
// nothing but single comparisons with a plain string.
func TestComparisonIsTheParsersExpression(t *testing.T) {
	for _, s := range comparisons {
		got, ok := parseComparison(s)
		if !ok {
			t.Errorf("parseComparison(%q) declined", s)
			continue
		}
		sameAsParser(t, s, got)
	}
	for _, s := range notComparisons {
		if e, ok := parseComparison(s); ok {
			t.Errorf("parseComparison(%q) read it as %v; it is not a plain comparison", s, e)
		}
	}
}

// TestParseComparisonIsChecked: the short way still checks the attribute
// and the operator against the schema, with the same error.
func TestParseComparisonIsChecked(t *testing.T) {
	for _, s := range []string{`nosuch eq "a"`, `active eq "true"`, `emails.nosuch eq "a"`} {
		_, err := Parse(mapping.User, s)
		var me *mapping.Error
		if !errors.As(err, &me) || me.ScimType != "invalidFilter" {
			t.Errorf("Parse(%q) = %v, want an invalidFilter error", s, err)
		}
	}
	if _, err := Parse(mapping.User, `userName eq "ada@example.com"`); err != nil {
		t.Fatal(err)
	}
}

// FuzzComparison: for any text parseComparison reads, the general parser
// accepts it and gives the same expression.
func FuzzComparison(f *testing.F) {
	for _, s := range append(append([]string{}, comparisons...), notComparisons...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, ok := parseComparison(s); ok {
			sameAsParser(t, s, got)
		}
	})
}

// sameAsParser fails t unless the general parser reads s as got.
func sameAsParser(t *testing.T, s string, got Expr) {
	t.Helper()
	want, err := scimfilter.ParseFilter([]byte(s))
	if err != nil {
		t.Fatalf("parseComparison read %q, which the parser rejects: %v", s, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseComparison(%q) = %#v, the parser gives %#v", s, got, want)
	}
}

// BenchmarkParseLookup is the filter of every IdP lookup.
func BenchmarkParseLookup(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(mapping.User, `userName eq "ada.lovelace@example.com"`); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseGeneral is a filter only the general parser reads.
func BenchmarkParseGeneral(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(mapping.User, `userName eq "ada.lovelace@example.com" or externalId eq "00u1"`); err != nil {
			b.Fatal(err)
		}
	}
}
