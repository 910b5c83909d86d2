// Package moderation judges comments against a list of banned words and
// records each verdict with its CommentModerated event.
package moderation

import (
	"errors"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/kafkablog/blog/shared/event"
)

// Policy rejects text that contains a banned word.
type Policy struct {
	banned map[string]bool
}

// NewPolicy returns a policy for words, matched case-insensitively as whole
// words. A word may contain only letters and digits.
func NewPolicy(words []string) (*Policy, error) {
	banned := make(map[string]bool, len(words))
	for _, w := range words {
		fields := splitWords(w)
		if len(fields) != 1 || fields[0] != w {
			return nil, errors.New("banned word " + `"` + w + `"` +
				" must be a single word of letters and digits")
		}
		banned[fold(normalize(w))] = true
	}

	if len(banned) == 0 {
		return nil, errors.New("the banned word list is empty")
	}

	return &Policy{banned: banned}, nil
}

// Verdict is the outcome of judging one comment.
type Verdict struct {
	Status string
	Reason string
}

// Judge returns rejected with the first banned word found as the reason,
// or approved. The text is normalised first, so invisible characters and
// compatibility forms cannot hide a banned word.
func (p *Policy) Judge(text string) Verdict {
	for _, w := range splitWords(normalize(text)) {
		if p.banned[fold(w)] {
			return Verdict{
				Status: event.StatusRejected,
				Reason: "contains the banned word " + `"` + fold(w) + `"`,
			}
		}
	}

	return Verdict{Status: event.StatusApproved, Reason: ""}
}

// splitWords splits text at every rune that is neither a letter, a digit
// nor a combining mark, so "Orange," and "orange-juice" both contain the
// word "orange" while "oranges" does not.
func splitWords(text string) []string {
	return strings.FieldsFunc(text, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) &&
			!unicode.Is(unicode.Mn, r)
	})
}

// normalize returns text in Unicode compatibility composition (NFKC),
// which turns fullwidth and other compatibility forms such as "ｏｒａｎｇｅ"
// into their plain letters. It also removes the characters that render as
// nothing inside a word: format characters (category Cf: soft hyphens,
// zero-width spaces and joiners, direction marks), the other default
// ignorable ones such as the combining grapheme joiner, and variation
// selectors.
//
// NOTE: letters of other scripts that look like Latin ones, such as
// Cyrillic "о", still differ from the banned word. Matching them needs
// the Unicode confusables table.
func normalize(text string) string {
	text = norm.NFKC.String(text)
	if strings.IndexFunc(text, isInvisible) < 0 {
		return text
	}

	return strings.Map(func(r rune) rune {
		if isInvisible(r) {
			return -1
		}
		return r
	}, text)
}

func isInvisible(r rune) bool {
	return unicode.Is(unicode.Cf, r) ||
		unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) ||
		unicode.Is(unicode.Variation_Selector, r)
}

func fold(w string) string {
	return strings.ToLower(w)
}
