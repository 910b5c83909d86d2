package deploy

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
)

// useRegexAnnotation makes ingress-nginx treat the paths of a host as
// regular expressions.
const useRegexAnnotation = "nginx.ingress.kubernetes.io/use-regex"

// Location is one path of a host as ingress-nginx writes it into nginx.
type Location struct {
	Path    string
	Service string
	Port    networkingv1.ServiceBackendPort
	// pattern is set in regex mode: (?i)^PATH, as in location ~* "^PATH".
	pattern *regexp.Regexp
}

// Router routes request paths of one host the way ingress-nginx does.
type Router struct {
	Host      string
	Regex     bool
	Locations []Location
}

// NewRouter collects the paths of host from every Ingress of class nginx
// and orders them as ingress-nginx (controller version 1.x) does: by path
// in descending byte order, then stably by descending length, so the
// longest path comes first. When any Ingress of the host sets use-regex,
// every path of the host becomes a case-insensitive regular expression
// anchored at the start only, and nginx takes the first one that matches.
// Otherwise paths are prefixes and the longest matching prefix wins.
func NewRouter(ingresses []*networkingv1.Ingress, host string) (*Router, error) {
	r := &Router{Host: host}
	for _, ing := range ingresses {
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" {
			continue
		}
		for _, rule := range ing.Spec.Rules {
			if rule.Host != host || rule.HTTP == nil {
				continue
			}
			if ing.Annotations[useRegexAnnotation] == "true" {
				r.Regex = true
			}
			for _, p := range rule.HTTP.Paths {
				if p.Backend.Service == nil {
					return nil, fmt.Errorf("ingress %s, path %s: no service "+
						"backend", ing.Name, p.Path)
				}
				r.Locations = append(r.Locations, Location{Path: p.Path,
					Service: p.Backend.Service.Name, Port: p.Backend.Service.Port})
			}
		}
	}
	if len(r.Locations) == 0 {
		return nil, fmt.Errorf("no nginx ingress path for host %s", host)
	}

	slices.SortStableFunc(r.Locations, func(a, b Location) int {
		return cmp.Compare(b.Path, a.Path)
	})
	slices.SortStableFunc(r.Locations, func(a, b Location) int {
		return cmp.Compare(len(b.Path), len(a.Path))
	})

	if r.Regex {
		for i := range r.Locations {
			// NOTE: nginx uses PCRE and Go uses RE2. The two agree on the
			// plain syntax the manifests use; a path that RE2 rejects
			// fails here.
			re, err := regexp.Compile("(?i)^" + r.Locations[i].Path)
			if err != nil {
				return nil, fmt.Errorf("path %s: %w", r.Locations[i].Path, err)
			}
			r.Locations[i].pattern = re
		}
	}

	return r, nil
}

// Route returns the location that serves path, which is the URL path
// without the query string, after nginx's normalisation.
func (r *Router) Route(path string) (Location, bool) {
	if r.Regex {
		for _, loc := range r.Locations {
			if loc.pattern.MatchString(path) {
				return loc, true
			}
		}
		return Location{}, false
	}

	for _, loc := range r.Locations {
		if strings.HasPrefix(path, loc.Path) {
			return loc, true
		}
	}

	return Location{}, false
}

// Services returns the names of every Service the router sends to.
func (r *Router) Services() []string {
	names := map[string]bool{}
	for _, loc := range r.Locations {
		names[loc.Service] = true
	}

	return slices.Sorted(maps.Keys(names))
}
