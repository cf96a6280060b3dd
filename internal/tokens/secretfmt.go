package tokens

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"strings"
)

// A secret is Prefix + body + checksum:
//
//	scimb_ 4f9KxQ...(43 base62 chars)... 1aZ09c
//
// The body is 43 characters drawn uniformly from the 62-letter alphabet
// (43·log2(62) ≈ 256.03 bits from crypto/rand). The 6-character checksum is
// the CRC-32 of the body in base62, so a secret scanner (or the verifier) can
// tell a real token from a typo or random garbage without any lookup. Only
// letters and digits follow the prefix, so a double click selects the whole
// token.
const (
	bodyLen     = 43
	checksumLen = 6
	// displayLen is how many body characters the non-secret display prefix
	// keeps (≈24 bits, leaving ≈232 unknown).
	displayLen = 4
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newSecret returns a fresh secret with the given prefix, its SHA-256 and
// its display prefix.
func newSecret(prefix string) (secret string, hash []byte, display string, err error) {
	body := make([]byte, 0, bodyLen)
	buf := make([]byte, 64)
	for len(body) < bodyLen {
		if _, err := rand.Read(buf); err != nil {
			return "", nil, "", fmt.Errorf("generate token: %w", err)
		}
		for _, b := range buf {
			// b&63 is uniform on 0..63; rejecting 62 and 63 keeps every
			// accepted letter uniform on the alphabet.
			if v := b & 63; v < 62 && len(body) < bodyLen {
				body = append(body, base62[v])
			}
		}
	}
	s := prefix + string(body) + checksum(body)
	return s, hashSecret(s), prefix + string(body[:displayLen]), nil
}

// checksum encodes the CRC-32 of body as exactly checksumLen base62 letters.
func checksum(body []byte) string {
	c := uint64(crc32.ChecksumIEEE(body))
	out := make([]byte, checksumLen)
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = base62[c%62]
		c /= 62
	}
	return string(out)
}

// wellFormed reports whether s has the shape of a secret this bridge issued
// with prefix: right prefix, length, alphabet and checksum.
func wellFormed(prefix, s string) bool {
	if len(s) != len(prefix)+bodyLen+checksumLen || !strings.HasPrefix(s, prefix) {
		return false
	}
	rest := s[len(prefix):]
	for i := 0; i < len(rest); i++ {
		if strings.IndexByte(base62, rest[i]) < 0 {
			return false
		}
	}
	return checksum([]byte(rest[:bodyLen])) == rest[bodyLen:]
}

func hashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// newID returns an opaque, unique token id.
func newID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token id: %w", err)
	}
	return "tok_" + hex.EncodeToString(b), nil
}
