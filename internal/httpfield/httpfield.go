// Package httpfield checks HTTP/1.1 field syntax (RFC 9110) the way
// net/http does, for the code that reads heads itself: the fast path's
// request parser (internal/h1) and the gateway's upstream response reader
// and header handling. Comparisons are ASCII only, as in net/http's
// httpguts: no Unicode case folding or spaces.
package httpfield

// IsTokenChar reports whether c may appear in a token.
func IsTokenChar(c byte) bool { return tokenChar[c] }

// IsToken reports whether s is a non-empty token (a field name, a method).
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChar[s[i]] {
			return false
		}
	}
	return true
}

var tokenChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// ValidValue reports whether a field value has no control character other
// than tab (bytes from 0x80 are allowed, as net/http allows them), as a
// string or as the bytes read.
func ValidValue[T ~string | ~[]byte](v T) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// TrimOWS trims optional whitespace (spaces and tabs) from both ends.
func TrimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// HasToken reports whether the comma-separated list v holds token, case
// insensitively.
func HasToken(v, token string) bool {
	for v != "" {
		item := v
		if i := indexComma(v); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			v = ""
		}
		if equalFold(TrimOWS(item), token) {
			return true
		}
	}
	return false
}

// AnyHasToken is HasToken over the values of a repeated field.
func AnyHasToken(values []string, token string) bool {
	for _, v := range values {
		if HasToken(v, token) {
			return true
		}
	}
	return false
}

func indexComma(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			return i
		}
	}
	return -1
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
