package deploy

import (
	"maps"
	"slices"
	"time"
)

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func durationText(nanoseconds int64) string {
	return time.Duration(nanoseconds).String()
}
