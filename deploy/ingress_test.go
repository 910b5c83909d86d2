package deploy

import (
	"testing"
)

// ingressHost is the public host of the blog.
const ingressHost = "posts.com"

// postID is a well-formed post id for routing cases.
const postID = "0193a7c2-7b1e-7c3a-9f00-1a2b3c4d5e6f"

// publicRoutes are the routes of the HTTP API contract with the Service
// and port that must serve them through the ingress.
var publicRoutes = []struct {
	method, path, service string
	port                  int32
}{
	{"POST", "/posts/create", "posts-svc", 4000},
	{"POST", "/posts/" + postID + "/comments", "comments-svc", 4001},
	{"GET", "/posts/" + postID + "/comments", "comments-svc", 4001},
	{"GET", "/posts", "query-svc", 4002},
	{"GET", "/posts/" + postID, "query-svc", 4002},
	{"GET", "/", "client", 8080},
	{"GET", "/index.html", "client", 8080},
	{"GET", "/assets/index-3f2a1b.js", "client", 8080},
}

// privatePaths must never reach a Go service: probes, metrics, and any
// other path that is not a public route.
var privatePaths = []string{"/healthz", "/readyz", "/metrics", "/rebuild",
	"/admin", "/postsx", "/posts-admin"}

func newIngressRouter(t testing.TB, set Set) *Router {
	t.Helper()

	return newHostRouter(t, set, ingressHost)
}

func newHostRouter(t testing.TB, set Set, host string) *Router {
	t.Helper()

	r, err := NewRouter(set.Ingresses(), host)
	if err != nil {
		t.Fatal(err)
	}

	return r
}

func TestIngress_routesEachRouteKind(t *testing.T) {
	t.Parallel()

	for name, set := range deploySets(t) {
		r := newIngressRouter(t, set)
		if !r.Regex {
			t.Errorf("%s set: host %s does not use regex paths (%s)", name,
				ingressHost, useRegexAnnotation)
		}

		for _, tt := range publicRoutes {
			loc, ok := r.Route(tt.path)
			if !ok {
				t.Errorf("%s set: %s %s matches no path", name, tt.method, tt.path)
				continue
			}
			if loc.Service != tt.service || loc.Port.Number != tt.port {
				t.Errorf("%s set: %s %s goes to %s:%d through path %q, want %s:%d",
					name, tt.method, tt.path, loc.Service, loc.Port.Number,
					loc.Path, tt.service, tt.port)
			}
		}
	}
}

func TestIngress_exposesNoPrivatePath(t *testing.T) {
	t.Parallel()

	r := newIngressRouter(t, loadSet(t, defaultGlobs...))
	for _, p := range privatePaths {
		loc, ok := r.Route(p)
		if !ok || loc.Service != "client" {
			t.Errorf("%s goes to %s, want client", p, loc.Service)
		}
	}

	for _, svc := range r.Services() {
		if svc == "moderation-svc" {
			t.Error("the ingress routes to moderation-svc, which has no public route")
		}
	}
}

func TestIngress_pathsUseImplementationSpecific(t *testing.T) {
	t.Parallel()

	for _, ing := range loadSet(t, defaultGlobs...).Ingresses() {
		for _, rule := range ing.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				if p.PathType == nil || *p.PathType != "ImplementationSpecific" {
					t.Errorf("path %s: pathType %v, want ImplementationSpecific "+
						"for a regular expression", p.Path, p.PathType)
				}
			}
		}
	}
}

func TestIngress_backendsNameServicePorts(t *testing.T) {
	t.Parallel()

	for name, set := range deploySets(t) {
		for _, ing := range set.Ingresses() {
			for _, rule := range ing.Spec.Rules {
				for _, p := range rule.HTTP.Paths {
					checkBackend(t, name, set, p.Path, p.Backend.Service.Name,
						p.Backend.Service.Port.Number, p.Backend.Service.Port.Name)
				}
			}
		}
	}
}

func checkBackend(t *testing.T, setName string, set Set, path, service string,
	number int32, portName string) {
	t.Helper()

	for _, svc := range set.Services() {
		if svc.Name != service {
			continue
		}
		for _, p := range svc.Spec.Ports {
			if (number != 0 && p.Port == number) || (portName != "" && p.Name == portName) {
				return
			}
		}
		t.Errorf("%s set: path %s names port %d%s of Service %s, which has "+
			"no such port", setName, path, number, portName, service)
		return
	}
	t.Errorf("%s set: path %s names Service %s, which does not exist",
		setName, path, service)
}

func TestRouter_ordersLikeIngressNginx(t *testing.T) {
	t.Parallel()

	set, err := DecodeStream("test.yaml", []byte(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: order
  annotations:
    nginx.ingress.kubernetes.io/use-regex: "true"
spec:
  ingressClassName: nginx
  rules:
    - host: example.com
      http:
        paths:
          - {path: "/", pathType: ImplementationSpecific, backend: {service: {name: root, port: {number: 1}}}}
          - {path: "/a/?(.*)", pathType: ImplementationSpecific, backend: {service: {name: any, port: {number: 1}}}}
          - {path: "/a/b", pathType: ImplementationSpecific, backend: {service: {name: b, port: {number: 1}}}}
          - {path: "/a/c", pathType: ImplementationSpecific, backend: {service: {name: c, port: {number: 1}}}}
`))
	if err != nil {
		t.Fatal(err)
	}

	r := newHostRouter(t, Set{Objects: set}, "example.com")
	// Longest first; "/a/c" before "/a/b" at equal length (descending).
	want := []string{"/a/?(.*)", "/a/c", "/a/b", "/"}
	for i, loc := range r.Locations {
		if loc.Path != want[i] {
			t.Errorf("location %d = %s, want %s", i, loc.Path, want[i])
		}
	}

	cases := map[string]string{"/a/b": "any", "/A/B": "any", "/x": "root"}
	for path, service := range cases {
		if loc, _ := r.Route(path); loc.Service != service {
			t.Errorf("%s goes to %s, want %s", path, loc.Service, service)
		}
	}
}
