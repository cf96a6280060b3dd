package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// Bench measures the calls a bridge makes per SCIM request. open returns
// a store on a fresh, empty database (closed by the caller's cleanup).
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	ctx := context.Background()
	b.Run("TokenByHash", func(b *testing.B) {
		s := open(b)
		must(b, "create", s.CreateToken(ctx, tok("a", "okta")))
		h := tok("a", "").Hash
		for b.Loop() {
			if _, err := s.TokenByHash(ctx, h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ResourcesByExternalID", func(b *testing.B) {
		s := open(b)
		for i := range 1000 {
			_, err := s.PutResource(ctx, user(fmt.Sprint("m", i), fmt.Sprint("ext", i)))
			must(b, "put", err)
		}
		for b.Loop() {
			if _, err := s.ResourcesByExternalID(ctx, store.KindUser, "ext500"); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The two reads of every userName lookup (the member's record, and
	// the IdP userName another replica may have written).
	b.Run("GetResource", func(b *testing.B) {
		s := open(b)
		for i := range 1000 {
			_, err := s.PutResource(ctx, user(fmt.Sprint("m", i), fmt.Sprint("ext", i)))
			must(b, "put", err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.GetResource(ctx, store.KindUser, "m500"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ResourceByUserName", func(b *testing.B) {
		s := open(b)
		for i := range 1000 {
			r := user(fmt.Sprint("m", i), fmt.Sprint("ext", i))
			r.UserName = fmt.Sprint("login", i)
			_, err := s.PutResource(ctx, r)
			must(b, "put", err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.ResourceByUserName(ctx, store.KindUser, "login500"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("PutResource", func(b *testing.B) {
		s := open(b)
		i := 0
		for b.Loop() {
			i++
			if _, err := s.PutResource(ctx, user(fmt.Sprint("m", i), fmt.Sprint("ext", i))); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UpdateResource", func(b *testing.B) {
		s := open(b)
		_, err := s.PutResource(ctx, user("m", "ext"))
		must(b, "put", err)
		for b.Loop() {
			if _, err := s.UpdateResource(ctx, store.KindUser, "m", func(r *store.Resource) error {
				r.Tombstoned = !r.Tombstoned
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendAudit", func(b *testing.B) {
		s := open(b)
		e := entry("user.update", store.KindUser, "m", time.Time{})
		for b.Loop() {
			if _, err := s.AppendAudit(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendAuditParallel", func(b *testing.B) {
		s := open(b)
		e := entry("user.update", store.KindUser, "m", time.Time{})
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.AppendAudit(ctx, e); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
