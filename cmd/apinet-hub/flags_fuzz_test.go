package main

import (
	"strconv"
	"testing"
)

// FuzzInt32Flag: the NAT limit flags accept exactly the non-negative int32
// decimals and store them unchanged.
func FuzzInt32Flag(f *testing.F) {
	for _, s := range []string{"0", "10", "-1", "2147483647", "2147483648", "+3", " 1", "0x10", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var dst int32 = -7
		err := int32Flag(&dst)(s)
		n, perr := strconv.ParseInt(s, 10, 32)
		switch valid := perr == nil && n >= 0; {
		case valid && (err != nil || int64(dst) != n):
			t.Fatalf("int32Flag(%q) = %d, %v; want %d", s, dst, err, n)
		case !valid && err == nil:
			t.Fatalf("int32Flag(%q) accepted %d", s, dst)
		case !valid && dst != -7:
			t.Fatalf("int32Flag(%q) wrote %d on error", s, dst)
		}
	})
}
