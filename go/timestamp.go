package sealq

import "time"

// parseTimestamp reads a key timestamp (SPEC-DECISIONS 6): exactly
// YYYY-MM-DD"T"hh:mm:ss[.1*9DIGIT](Z|(+|-)hh:mm), T and Z in either case, every field in range
// (no leap second, no 24:00, a day that exists in its month), and returns ms since the epoch.
// Fraction digits beyond milliseconds are dropped, not rounded.
func parseTimestamp(s string) (int64, bool) {
	num := func(i, n int) (int, bool) {
		if i+n > len(s) {
			return 0, false
		}
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	at := func(i int, c byte) bool { return i < len(s) && s[i] == c }
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 2)
	day, ok3 := num(8, 2)
	hour, ok4 := num(11, 2)
	minute, ok5 := num(14, 2)
	sec, ok6 := num(17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || !at(4, '-') || !at(7, '-') || !(at(10, 'T') || at(10, 't')) || !at(13, ':') || !at(16, ':') {
		return 0, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || sec > 59 {
		return 0, false
	}
	i := 19
	ms := 0
	if at(i, '.') {
		i++
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if n < 3 {
				ms = ms*10 + int(s[i]-'0')
			}
			n++
			i++
		}
		if n == 0 || n > 9 {
			return 0, false
		}
		for ; n < 3; n++ {
			ms *= 10
		}
	}
	offset := 0
	switch {
	case i == len(s)-1 && (s[i] == 'Z' || s[i] == 'z'):
	case i == len(s)-6 && (s[i] == '+' || s[i] == '-') && s[i+3] == ':':
		oh, okh := num(i+1, 2)
		om, okm := num(i+4, 2)
		if !okh || !okm || oh > 23 || om > 59 {
			return 0, false
		}
		offset = oh*60 + om
		if s[i] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	return t.UnixMilli() + int64(ms) - int64(offset)*60_000, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
