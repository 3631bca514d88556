package sealq

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A strict JSON parser for the documents this package reads as text: the object carrier and
// keyrings. encoding/json is not used for them because it keeps the last of duplicate members,
// turns lone-surrogate escapes into U+FFFD and matches struct fields case-insensitively. This
// parser rejects duplicate member names in every object, keeps strings exact (a lone surrogate
// is kept as its WTF-8 bytes and flagged, so callers decide) and bounds nesting.

type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNum
	jStr
	jArr
	jObj
)

type jvalue struct {
	kind jkind
	b    bool
	str  string // a string's value, or a number's literal text
	lone bool   // the string holds a lone surrogate (then str is not valid UTF-8)
	arr  []*jvalue
	obj  []jmember
}

type jmember struct {
	name string
	val  *jvalue
}

func (v *jvalue) get(name string) *jvalue {
	for i := range v.obj {
		if v.obj[i].name == name {
			return v.obj[i].val
		}
	}
	return nil
}

// float returns a number's value as ECMAScript JSON.parse reads it (an IEEE 754 double).
func (v *jvalue) float() float64 {
	// Out of range, ParseFloat returns ±Inf (with an error), which is what JSON.parse gives too.
	f, _ := strconv.ParseFloat(v.str, 64)
	return f
}

const jsonMaxDepth = 64

type jsonError struct{ msg string }

func (e *jsonError) Error() string { return e.msg }

func parseJSONText(b []byte) (*jvalue, error) {
	if !utf8.Valid(b) {
		return nil, &jsonError{"not UTF-8"}
	}
	p := jparser{scanner: scanner{b: b}}
	p.ws()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i != len(b) {
		return nil, &jsonError{"not JSON: something follows the value"}
	}
	return v, nil
}

type jparser struct{ scanner }

var errNotJSON = &jsonError{"not JSON"}

func (p *jparser) value(depth int) (*jvalue, error) {
	if depth > jsonMaxDepth {
		return nil, &jsonError{"nested too deeply"}
	}
	if p.i >= len(p.b) {
		return nil, errNotJSON
	}
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		v := &jvalue{kind: jObj}
		var names map[string]struct{}
		p.ws()
		if p.eat('}') {
			return v, nil
		}
		for {
			p.ws()
			name, lone, ok := p.wtf8str()
			if !ok {
				return nil, errNotJSON
			}
			_ = lone // a name is compared by code units; WTF-8 keeps that comparison exact
			p.ws()
			if !p.eat(':') {
				return nil, errNotJSON
			}
			p.ws()
			val, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			// Duplicate names: every object, any depth. A map once objects grow, so a hostile
			// object with many members cannot make this quadratic.
			if names == nil && len(v.obj) >= 16 {
				names = make(map[string]struct{}, 2*len(v.obj))
				for _, m := range v.obj {
					names[m.name] = struct{}{}
				}
			}
			dup := false
			if names != nil {
				_, dup = names[name]
				names[name] = struct{}{}
			} else {
				dup = v.get(name) != nil
			}
			if dup {
				return nil, &jsonError{"duplicate member name " + quote(toValidUTF8(name))}
			}
			v.obj = append(v.obj, jmember{name, val})
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat('}') {
				return v, nil
			}
			return nil, errNotJSON
		}
	case c == '[':
		p.i++
		v := &jvalue{kind: jArr}
		p.ws()
		if p.eat(']') {
			return v, nil
		}
		for {
			p.ws()
			e, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			v.arr = append(v.arr, e)
			p.ws()
			if p.eat(',') {
				continue
			}
			if p.eat(']') {
				return v, nil
			}
			return nil, errNotJSON
		}
	case c == '"':
		s, lone, ok := p.wtf8str()
		if !ok {
			return nil, errNotJSON
		}
		return &jvalue{kind: jStr, str: s, lone: lone}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		s, ok := p.number()
		if !ok {
			return nil, errNotJSON
		}
		return &jvalue{kind: jNum, str: s}, nil
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(p.b)-p.i >= len(lit) && string(p.b[p.i:p.i+len(lit)]) == lit {
				p.i += len(lit)
				if lit == "null" {
					return &jvalue{kind: jNull}, nil
				}
				return &jvalue{kind: jBool, b: lit == "true"}, nil
			}
		}
		return nil, errNotJSON
	}
}

// number reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and returns its text.
func (p *jparser) number() (string, bool) {
	start := p.i
	p.eat('-')
	digits := func() int {
		n := 0
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.eat('0') {
		// no more integer digits after a leading zero
	} else if digits() == 0 {
		return "", false
	}
	if p.eat('.') && digits() == 0 {
		return "", false
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if !p.eat('+') {
			p.eat('-')
		}
		if digits() == 0 {
			return "", false
		}
	}
	return string(p.b[start:p.i]), true
}

// wtf8str reads a JSON string. A lone surrogate escape is kept as its 3-byte WTF-8 form and
// reported, so the value stays exact (comparisons by code unit stay right) without being taken
// for valid text.
func (p *jparser) wtf8str() (string, bool, bool) {
	if !p.eat('"') {
		return "", false, false
	}
	return p.unescape(p.i)
}

// toValidUTF8 replaces what is not valid UTF-8 (lone surrogates kept as WTF-8), for messages.
func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := make([]rune, 0, len(s))
	for _, r := range s {
		out = append(out, r)
	}
	return string(out)
}

// wtf8ToUTF16 returns the code units a string (valid UTF-8, or WTF-8 with lone surrogates) stands for.
func wtf8ToUTF16(s string) []uint16 {
	out := make([]uint16, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c == 0xed && i+2 < len(s) && s[i+1] >= 0xa0 { // a surrogate in WTF-8
			out = append(out, uint16(c&0x0f)<<12|uint16(s[i+1]&0x3f)<<6|uint16(s[i+2]&0x3f))
			i += 3
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			out = append(out, uint16(hi), uint16(lo))
		} else {
			out = append(out, uint16(r))
		}
	}
	return out
}
