package moderation_test

import (
	"strings"
	"testing"

	"github.com/kafkablog/blog/moderation-svc/internal/moderation"
	"github.com/kafkablog/blog/shared/event"
)

func mustPolicy(t testing.TB, words ...string) *moderation.Policy {
	t.Helper()

	p, err := moderation.NewPolicy(words)
	if err != nil {
		t.Fatalf("NewPolicy(%q): %v", words, err)
	}

	return p
}

type judgeCase struct {
	text   string
	status string
	// word is the banned word the reason must name; empty when approved.
	word string
}

func checkJudge(t *testing.T, p *moderation.Policy, cases []judgeCase) {
	t.Helper()

	for _, tc := range cases {
		t.Run(tc.text, func(t *testing.T) {
			t.Parallel()

			v := p.Judge(tc.text)
			if v.Status != tc.status {
				t.Errorf("Judge(%q).Status = %q, want %q", tc.text, v.Status,
					tc.status)
			}

			if tc.word == "" && v.Reason != "" {
				t.Errorf("Judge(%q).Reason = %q, want none for approval",
					tc.text, v.Reason)
			}
			if tc.word != "" && !strings.Contains(v.Reason, `"`+tc.word+`"`) {
				t.Errorf("Judge(%q).Reason = %q, want it to name %q", tc.text,
					v.Reason, tc.word)
			}
		})
	}
}

func TestPolicyJudge_defaultWord(t *testing.T) {
	t.Parallel()
	p := mustPolicy(t, "orange")

	checkJudge(t, p, []judgeCase{
		{"I had an Orange for breakfast today", event.StatusRejected, "orange"},
		{"ORANGE!", event.StatusRejected, "orange"},
		{"orange-juice", event.StatusRejected, "orange"},
		{"orange", event.StatusRejected, "orange"},
		{"(orange)", event.StatusRejected, "orange"},
		{"It's orange's fault", event.StatusRejected, "orange"},
		{"first line\norange\tsecond", event.StatusRejected, "orange"},
		{"apple,orange,pear", event.StatusRejected, "orange"},
		{"oranges", event.StatusApproved, ""},
		{"orangery", event.StatusApproved, ""},
		{"blood-oranges", event.StatusApproved, ""},
		{"borange", event.StatusApproved, ""},
		{"orange2", event.StatusApproved, ""},
		{"orange\u0301", event.StatusApproved, ""},
		{"", event.StatusApproved, ""},
		{"   ", event.StatusApproved, ""},
		{"A lovely comment about apples", event.StatusApproved, ""},
		{"<script>orange</script>", event.StatusRejected, "orange"},
	})
}

// TestPolicyJudge_hiddenWord covers a banned word disguised with format
// characters, which render as nothing, or with compatibility forms.
func TestPolicyJudge_hiddenWord(t *testing.T) {
	t.Parallel()
	p := mustPolicy(t, "orange")

	checkJudge(t, p, []judgeCase{
		{"I like or\u00adange juice", event.StatusRejected, "orange"},
		{"or\u200bange", event.StatusRejected, "orange"},
		{"\u200dorange\u200c", event.StatusRejected, "orange"},
		{"ora\u200fnge", event.StatusRejected, "orange"},
		{"\ufeffOrange", event.StatusRejected, "orange"},
		{"\uff4f\uff52\uff41\uff4e\uff47\uff45", event.StatusRejected, "orange"},
		{"\U0001d428\U0001d42b\U0001d41a\U0001d427\U0001d420\U0001d41e", event.StatusRejected, "orange"},
		{"or\u034fange", event.StatusRejected, "orange"},
		{"oran\ufe0fge", event.StatusRejected, "orange"},
		{"or ange", event.StatusApproved, ""},
		{"\u00adoranges", event.StatusApproved, ""},
	})
}

func TestPolicyJudge_customList(t *testing.T) {
	t.Parallel()
	p := mustPolicy(t, "kiwi", "Mango")

	checkJudge(t, p, []judgeCase{
		{"KIWI", event.StatusRejected, "kiwi"},
		{"I like kiwi.", event.StatusRejected, "kiwi"},
		{"mango", event.StatusRejected, "mango"},
		{"MANGO salsa", event.StatusRejected, "mango"},
		{"Mango", event.StatusRejected, "mango"},
		{"kiwis and mangoes", event.StatusApproved, ""},
		{"orange", event.StatusApproved, ""},
		{"", event.StatusApproved, ""},
	})
}

func TestNewPolicy_invalidList(t *testing.T) {
	t.Parallel()

	cases := []struct {
		name  string
		words []string
	}{
		{"nil list", nil},
		{"empty list", []string{}},
		{"two words", []string{"two words"}},
		{"valid word then two words", []string{"orange", "two words"}},
		{"empty word", []string{""}},
		{"white space word", []string{" "}},
		{"surrounding white space", []string{" orange "}},
		{"hyphenated word", []string{"orange-juice"}},
		{"punctuation", []string{"orange!"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			if p, err := moderation.NewPolicy(tc.words); err == nil {
				t.Errorf("NewPolicy(%q) = %v, want an error", tc.words, p)
			}
		})
	}
}
