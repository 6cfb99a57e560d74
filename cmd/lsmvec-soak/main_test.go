package main

import (
	"strings"
	"testing"
)

// TestFlags checks the command's refusals: they exit 2 before any server
// starts.
func TestFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-h"}, 0, "-duration"},
		{[]string{"-duration", "0"}, 2, "nothing to do"},
		{[]string{"-clients", "0", "-ids", "-4"}, 2, "invalid configuration"},
		{[]string{"-duration", "1s", "-warmup", "1m"}, 2, "warm-up"},
		{[]string{"-duration", "soon"}, 2, "invalid value"},
		{[]string{"extra"}, 2, "unexpected argument"},
	} {
		var out, errb strings.Builder
		if got := run(c.args, &out, &errb); got != c.code || !strings.Contains(errb.String(), c.msg) {
			t.Errorf("run(%q) = %d, stderr %q; want %d and %q", c.args, got, errb.String(), c.code, c.msg)
		}
	}
}
