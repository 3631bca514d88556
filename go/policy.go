package sealq

import (
	"strings"
	"unicode/utf8"
)

// matcher decides whether a key's policy list allows a ctx or typ (SPEC §7.4, SPEC-DECISIONS 8):
// a pattern without '*' matches by equality, in a pattern '*' matches any sequence of code units,
// and a list containing "*" itself allows everything, including an absent typ. Matching is
// linear: the fixed segments between stars are found left to right, no backtracking.
type matcher struct {
	all   bool
	exact map[string]struct{}
	wild  []glob
}

type glob struct {
	segs   []string   // split at '*': len >= 2
	segs16 [][]uint16 // set when the pattern holds a lone surrogate: matched by code unit
}

func compileMatcher(patterns []string) *matcher {
	m := &matcher{exact: map[string]struct{}{}}
	for _, p := range patterns {
		switch {
		case p == "*":
			m.all = true
		case !strings.Contains(p, "*"):
			m.exact[p] = struct{}{}
		default:
			g := glob{segs: strings.Split(p, "*")}
			if !utf8.ValidString(p) {
				for _, s := range g.segs {
					g.segs16 = append(g.segs16, wtf8ToUTF16(s))
				}
			}
			m.wild = append(m.wild, g)
		}
	}
	return m
}

// allows reports whether name (present=false: the header has no typ) is allowed. A nil matcher
// (no list) allows everything.
func (m *matcher) allows(name string, present bool) bool {
	if m == nil || m.all {
		return true
	}
	if !present {
		return false
	}
	if _, ok := m.exact[name]; ok {
		return true
	}
	for i := range m.wild {
		g := &m.wild[i]
		if g.segs16 != nil {
			if globMatch16(g.segs16, wtf8ToUTF16(name)) {
				return true
			}
		} else if globMatch(g.segs, name) {
			return true
		}
	}
	return false
}

func globMatch(segs []string, name string) bool {
	first, last := segs[0], segs[len(segs)-1]
	if len(name) < len(first)+len(last) || !strings.HasPrefix(name, first) || !strings.HasSuffix(name, last) {
		return false
	}
	rest := name[len(first) : len(name)-len(last)]
	for _, s := range segs[1 : len(segs)-1] {
		i := strings.Index(rest, s)
		if i < 0 {
			return false
		}
		rest = rest[i+len(s):]
	}
	return true
}

// globMatch16 is globMatch on code units, for patterns holding a lone surrogate (which can match
// half of a surrogate pair in name, as in ECMAScript).
func globMatch16(segs [][]uint16, name []uint16) bool {
	first, last := segs[0], segs[len(segs)-1]
	if len(name) < len(first)+len(last) || !eq16(name[:len(first)], first) || !eq16(name[len(name)-len(last):], last) {
		return false
	}
	rest := name[len(first) : len(name)-len(last)]
	for _, s := range segs[1 : len(segs)-1] {
		i := index16(rest, s)
		if i < 0 {
			return false
		}
		rest = rest[i+len(s):]
	}
	return true
}

func eq16(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func index16(s, sub []uint16) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if eq16(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}
