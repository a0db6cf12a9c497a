package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: demofs"},
		{[]string{"a", "b"}, 2, "usage: demofs"},
		{[]string{"-nope", "m"}, 2, "flag provided but not defined"},
		{[]string{"-seed", "/nonexistent/seed", "m"}, 1, "demofs: seed /nonexistent/seed"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		if code := run(tt.args, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("run(%q) = %d, stderr %q; want %d and %q", tt.args, code, stderr.String(), tt.code, tt.want)
		}
	}
}
