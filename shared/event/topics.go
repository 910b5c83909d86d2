package event

// Topics holds the topic names one deployment uses. A non-empty prefix lets
// several test runs share one broker; production uses no prefix.
type Topics struct {
	Posts      string
	Comments   string
	Moderation string
}

// NewTopics returns the contract's topic names, each preceded by prefix.
func NewTopics(prefix string) Topics {
	return Topics{
		Posts:      prefix + TopicPosts,
		Comments:   prefix + TopicComments,
		Moderation: prefix + TopicModeration,
	}
}

// DeadLetter returns the name of the dead-letter topic for topic.
func DeadLetter(topic string) string {
	return topic + ".dlq"
}
