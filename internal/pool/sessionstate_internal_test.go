package pool

import (
	"reflect"
	"testing"
)

func TestOptionSettings(t *testing.T) {
	tests := []struct {
		in   string
		want [][2]string
	}{
		{"", nil},
		{"-c statement_timeout=5s", [][2]string{{"statement_timeout", "5s"}}},
		{"-cwork_mem=1MB --search-path=a,b -c x.y=1\\ 2", [][2]string{{"work_mem", "1MB"}, {"search_path", "a,b"}, {"x.y", "1 2"}}},
		{"-c", nil},
		{"-c =1 junk", nil},
	}
	for _, tt := range tests {
		if got := optionSettings(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("optionSettings(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got, want := setSQL("TimeZone", "it's").sql, "SELECT pg_catalog.set_config('timezone', 'it''s', false)"; got != want {
		t.Errorf("setSQL = %s, want %s", got, want)
	}
	if got, want := quoteLiteral(`a\b'`), `E'a\\b\''`; got != want {
		t.Errorf("quoteLiteral = %s, want %s", got, want)
	}
}
