package pool

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// scramIterations is the PBKDF2 iteration count for verifiers derived
// from plaintext passwords (PostgreSQL's default).
const scramIterations = 4096

// secret is what the pooler knows of one user's password.
type secret struct {
	plain string // empty unless configured in plaintext
	md5   string // "md5" + hex, from plaintext or configured
	scram *scramVerifier
}

type scramVerifier struct {
	iters     int
	salt      []byte
	storedKey []byte
	serverKey []byte
}

// parseSecret turns a configured password into a secret.
func parseSecret(user, password string) (*secret, error) {
	switch {
	case password == "":
		return nil, errors.New("empty; give a password or a SCRAM-SHA-256 verifier")
	case strings.HasPrefix(password, "SCRAM-SHA-256$"):
		v, err := parseVerifier(password)
		if err != nil {
			return nil, err
		}
		return &secret{scram: v}, nil
	case len(password) == 35 && strings.HasPrefix(password, "md5"):
		return &secret{md5: password}, nil
	default:
		salt := make([]byte, 16)
		if _, err := rand.Read(salt); err != nil {
			return nil, fmt.Errorf("salt: %w", err)
		}
		v, err := deriveVerifier(password, salt, scramIterations)
		if err != nil {
			return nil, err
		}
		return &secret{plain: password, md5: md5Hash(password, user), scram: v}, nil
	}
}

// parseVerifier parses "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>".
func parseVerifier(s string) (*scramVerifier, error) {
	const format = "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>"
	parts := strings.Split(strings.TrimPrefix(s, "SCRAM-SHA-256$"), "$")
	if len(parts) != 2 {
		return nil, fmt.Errorf("malformed SCRAM verifier; want %s", format)
	}
	is, ss, ok := strings.Cut(parts[0], ":")
	ks, vs, ok2 := strings.Cut(parts[1], ":")
	if !ok || !ok2 {
		return nil, fmt.Errorf("malformed SCRAM verifier; want %s", format)
	}
	iters, err := strconv.Atoi(is)
	if err != nil || iters < 1 {
		return nil, fmt.Errorf("SCRAM verifier iterations %q is not a positive number", is)
	}
	v := &scramVerifier{iters: iters}
	for _, f := range []struct {
		dst *[]byte
		src string
	}{{&v.salt, ss}, {&v.storedKey, ks}, {&v.serverKey, vs}} {
		b, err := base64.StdEncoding.DecodeString(f.src)
		if err != nil {
			return nil, fmt.Errorf("SCRAM verifier: bad base64: %w", err)
		}
		*f.dst = b
	}
	if len(v.storedKey) != sha256.Size || len(v.serverKey) != sha256.Size {
		return nil, errors.New("SCRAM verifier keys must be 32 bytes")
	}
	return v, nil
}

// deriveVerifier computes a SCRAM-SHA-256 verifier (RFC 5802/7677).
// Passwords are used as given: SASLprep normalisation is not applied, so
// non-ASCII passwords must already be in normalised form.
func deriveVerifier(password string, salt []byte, iters int) (*scramVerifier, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iters, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("derive SCRAM key: %w", err)
	}
	clientKey := hmacSum(salted, []byte("Client Key"))
	stored := sha256.Sum256(clientKey)
	return &scramVerifier{
		iters:     iters,
		salt:      salt,
		storedKey: stored[:],
		serverKey: hmacSum(salted, []byte("Server Key")),
	}, nil
}

func hmacSum(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}
