package pool_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"holdfast/internal/pgtest"
	"holdfast/internal/pool"
)

// selfSigned returns a TLS config with a fresh certificate for 127.0.0.1.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "holdfast test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
}

func TestClientTLS(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) {
		c.TLS = selfSigned(t)
		c.ClientTLSMode = pool.TLSRequire
	})
	ctx := context.Background()
	dsn := strings.Replace(h.dsn(appUser, appPass, appDB, "default_query_exec_mode=simple_protocol"), "sslmode=disable", "sslmode=require", 1)
	conn := pgtestConnect(t, dsn)
	var n int
	if err := conn.QueryRow(ctx, "SELECT 7").Scan(&n); err != nil || n != 7 {
		t.Fatalf("query over TLS = %d, %v", n, err)
	}
	if _, ok := conn.PgConn().Conn().(*tls.Conn); !ok {
		t.Fatalf("client connection is %T, want *tls.Conn", conn.PgConn().Conn())
	}
	out := h.run(t, appPass, "psql", "-X", "-A", "-t", "-U", appUser, "-d", "dbname="+appDB+" sslmode=require",
		"-c", "SELECT 'tls ok'")
	if !strings.Contains(out, "tls ok") {
		t.Fatalf("psql over TLS: %s", out)
	}
	_, err := pgx.Connect(ctx, h.dsn(appUser, appPass, appDB, ""))
	if got := pgCode(err); got != "28000" {
		t.Fatalf("plaintext client: %v (SQLSTATE %q), want 28000", err, got)
	}
}
