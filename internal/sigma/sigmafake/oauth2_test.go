package sigmafake

import (
	"context"
	"net/http"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestOAuth2ClientCredentialsLibrary checks the token endpoint against the
// library the bridge uses, in both auth styles, with a secret that needs
// form-encoding inside HTTP Basic.
func TestOAuth2ClientCredentialsLibrary(t *testing.T) {
	const secret = "s3cr+t/ü: x%"
	s := startServer(t, Options{ClientSecret: secret, Members: 2})
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cfg := clientcredentials.Config{
			ClientID: DefaultClientID, ClientSecret: secret,
			TokenURL: s.URL() + "/v2/auth/token", AuthStyle: style,
		}
		tok, err := cfg.Token(context.Background())
		if err != nil {
			t.Fatalf("style %d: %v", style, err)
		}
		if tok.TokenType != "bearer" || tok.Expiry.IsZero() || tok.RefreshToken == "" {
			t.Fatalf("style %d: token %+v", style, tok)
		}
		resp, err := cfg.Client(context.Background()).Get(s.URL() + "/v2/members?limit=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("style %d: API call answered %d", style, resp.StatusCode)
		}
	}
}
