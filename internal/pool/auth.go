package pool

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"

	"holdfast/internal/pgwire"
)

// errAuthFailed is the one answer to every failed login, whether the user
// exists or not.
func errAuthFailed(user string) *pgwire.Error {
	return pgwire.Fatal(pgwire.CodeInvalidPassword, "password authentication failed for user %q", user)
}

// authenticate runs the client's password exchange. It returns nil when
// the client proved the password; AuthenticationOk is not yet sent.
func (c *client) authenticate(user string) error {
	err := c.authenticateWith(user)
	var pe *pgwire.Error
	if errors.As(err, &pe) && pe.Code == pgwire.CodeInvalidPassword {
		c.srv.errs.add(errLoginFailedKind)
	}
	return err
}

func (c *client) authenticateWith(user string) error {
	lv := c.srv.conf()
	sec := lv.secrets[user]
	if sec == nil && lv.cfg.AuthUser != "" && !isAdminDB(c.database) {
		var err error
		if sec, err = c.srv.authQuery(c.database, user); err != nil {
			return err
		}
	}
	if sec == nil {
		// Unknown user: run SCRAM against a verifier that matches nothing,
		// so the exchange and its timing look like a wrong password.
		return c.scram(user, c.srv.dummyVerifier(user))
	}
	if lv.cfg.AuthType == AuthMD5 && sec.md5 != "" {
		return c.md5(user, sec.md5)
	}
	if sec.scram == nil {
		// Only an md5 hash is known and auth_type is scram.
		return errAuthFailed(user)
	}
	return c.scram(user, sec.scram)
}

func (c *client) md5(user, stored string) error {
	var salt [4]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return fmt.Errorf("md5 salt: %w", err)
	}
	if err := c.send(&pgproto3.AuthenticationMD5Password{Salt: salt}); err != nil {
		return err
	}
	m, err := c.readAuth()
	if err != nil {
		return err
	}
	var pm pgproto3.PasswordMessage
	if err := pm.Decode(m.Body()); err != nil {
		return pgwire.Fatal(pgwire.CodeProtocolViolation, "invalid password packet")
	}
	sum := md5.Sum([]byte(stored[3:] + string(salt[:])))
	want := "md5" + hex.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(want), []byte(pm.Password)) != 1 {
		return errAuthFailed(user)
	}
	return nil
}

func md5Hash(password, user string) string {
	sum := md5.Sum([]byte(password + user))
	return "md5" + hex.EncodeToString(sum[:])
}

// readAuth reads one PasswordMessage-family ('p') message.
func (c *client) readAuth() (pgwire.Message, error) {
	m, err := c.r.Next()
	if err != nil {
		if pe, ok := asProtocolError(err); ok {
			return m, pe
		}
		return m, fmt.Errorf("read auth response: %w", err)
	}
	if m.Type() != pgwire.MsgPassword {
		return m, pgwire.Fatal(pgwire.CodeProtocolViolation, "expected password response, got message type %q", m.Type())
	}
	return m, nil
}

// scram is the server side of SCRAM-SHA-256 without channel binding.
func (c *client) scram(user string, v *scramVerifier) error {
	const mech = "SCRAM-SHA-256"
	if err := c.send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{mech}}); err != nil {
		return err
	}
	m, err := c.readAuth()
	if err != nil {
		return err
	}
	var init pgproto3.SASLInitialResponse
	if err := init.Decode(m.Body()); err != nil || init.AuthMechanism != mech {
		return pgwire.Fatal(pgwire.CodeProtocolViolation, "client selected an invalid SASL authentication mechanism")
	}
	clientFirstBare, clientNonce, err := parseClientFirst(string(init.Data))
	if err != nil {
		return pgwire.Fatal(pgwire.CodeProtocolViolation, "malformed SCRAM message: %v", err)
	}
	nonceBytes := make([]byte, 18)
	if _, err := rand.Read(nonceBytes); err != nil {
		return fmt.Errorf("scram nonce: %w", err)
	}
	nonce := clientNonce + base64.StdEncoding.EncodeToString(nonceBytes)
	serverFirst := "r=" + nonce + ",s=" + base64.StdEncoding.EncodeToString(v.salt) + ",i=" + strconv.Itoa(v.iters)
	if err := c.send(&pgproto3.AuthenticationSASLContinue{Data: []byte(serverFirst)}); err != nil {
		return err
	}

	m, err = c.readAuth()
	if err != nil {
		return err
	}
	var resp pgproto3.SASLResponse
	if err := resp.Decode(m.Body()); err != nil {
		return pgwire.Fatal(pgwire.CodeProtocolViolation, "malformed SCRAM message")
	}
	withoutProof, proof, err := parseClientFinal(string(resp.Data), nonce)
	if err != nil {
		return pgwire.Fatal(pgwire.CodeProtocolViolation, "malformed SCRAM message: %v", err)
	}
	authMessage := []byte(clientFirstBare + "," + serverFirst + "," + withoutProof)
	clientSig := hmacSum(v.storedKey, authMessage)
	if len(proof) != len(clientSig) {
		return errAuthFailed(user)
	}
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ clientSig[i]
	}
	got := sha256.Sum256(clientKey)
	if !hmac.Equal(got[:], v.storedKey) {
		return errAuthFailed(user)
	}
	serverSig := hmacSum(v.serverKey, authMessage)
	return c.send(&pgproto3.AuthenticationSASLFinal{Data: []byte("v=" + base64.StdEncoding.EncodeToString(serverSig))})
}

// parseClientFirst parses "gs2-header client-first-bare" and returns the
// bare part and the client nonce. Channel binding ("p=") is refused: the
// pooler does not offer SCRAM-SHA-256-PLUS.
func parseClientFirst(s string) (bare, nonce string, err error) {
	switch {
	case strings.HasPrefix(s, "n,"), strings.HasPrefix(s, "y,"):
	case strings.HasPrefix(s, "p="):
		return "", "", errors.New("channel binding is not supported")
	default:
		return "", "", errors.New("bad GS2 header")
	}
	// Skip the authzid field.
	rest := s[2:]
	i := strings.IndexByte(rest, ',')
	if i < 0 {
		return "", "", errors.New("bad GS2 header")
	}
	bare = rest[i+1:]
	for _, attr := range strings.Split(bare, ",") {
		if v, ok := strings.CutPrefix(attr, "r="); ok {
			nonce = v
		}
	}
	if nonce == "" {
		return "", "", errors.New("missing nonce")
	}
	return bare, nonce, nil
}

// parseClientFinal checks "c=...,r=<nonce>,p=<proof>" and returns the
// message without the proof and the decoded proof.
func parseClientFinal(s, nonce string) (withoutProof string, proof []byte, err error) {
	i := strings.LastIndex(s, ",p=")
	if i < 0 {
		return "", nil, errors.New("missing proof")
	}
	withoutProof = s[:i]
	proof, err = base64.StdEncoding.DecodeString(s[i+3:])
	if err != nil {
		return "", nil, errors.New("bad proof encoding")
	}
	var sawNonce bool
	for _, attr := range strings.Split(withoutProof, ",") {
		switch {
		case strings.HasPrefix(attr, "c="):
			// Without channel binding the client sends base64("n,,") or
			// base64("y,,"); anything else asks for binding we refused.
			if cb := attr[2:]; cb != "biws" && cb != "eSws" {
				return "", nil, errors.New("unexpected channel binding")
			}
		case strings.HasPrefix(attr, "r="):
			if attr[2:] != nonce {
				return "", nil, errors.New("nonce mismatch")
			}
			sawNonce = true
		}
	}
	if !sawNonce {
		return "", nil, errors.New("missing nonce")
	}
	return withoutProof, proof, nil
}
