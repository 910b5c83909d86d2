package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Object is one decoded manifest document.
type Object struct {
	// Source is the file and document index, such as k8s/kafka.yaml#2.
	Source string
	Kind   string
	Name   string
	// Value is a pointer to the k8s.io/api type of Kind, such as
	// *appsv1.Deployment.
	Value any
}

// kinds maps apiVersion and kind to a constructor of the typed object.
// A document of any other kind fails to decode.
var kinds = map[string]func() any{
	"v1/ConfigMap":                             newOf[corev1.ConfigMap],
	"v1/Secret":                                newOf[corev1.Secret],
	"v1/Service":                               newOf[corev1.Service],
	"v1/ServiceAccount":                        newOf[corev1.ServiceAccount],
	"apps/v1/Deployment":                       newOf[appsv1.Deployment],
	"apps/v1/StatefulSet":                      newOf[appsv1.StatefulSet],
	"batch/v1/Job":                             newOf[batchv1.Job],
	"networking.k8s.io/v1/Ingress":             newOf[networkingv1.Ingress],
	"networking.k8s.io/v1/NetworkPolicy":       newOf[networkingv1.NetworkPolicy],
	"rbac.authorization.k8s.io/v1/Role":        newOf[rbacv1.Role],
	"rbac.authorization.k8s.io/v1/RoleBinding": newOf[rbacv1.RoleBinding],
}

func newOf[T any]() any {
	return new(T)
}

// DecodeStream splits a multi-document YAML stream and decodes each
// document strictly into its k8s.io/api type: an unknown or misspelled
// field, a value of the wrong type, an invalid quantity or a duplicate key
// fails. Documents that hold only comments are skipped. name labels the
// documents in errors and in Object.Source.
func DecodeStream(name string, data []byte) ([]Object, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))

	var objects []Object
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objects, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: split documents: %w", name, err)
		}

		source := fmt.Sprintf("%s#%d", name, i)
		obj, empty, err := decodeDocument(source, doc)
		if err != nil {
			return nil, err
		}
		if !empty {
			objects = append(objects, obj)
		}
	}
}

func decodeDocument(source string, doc []byte) (Object, bool, error) {
	var head struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   metav1.ObjectMeta `json:"metadata"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return Object{}, false, fmt.Errorf("%s: %w", source, err)
	}
	if head.APIVersion == "" && head.Kind == "" && len(bytes.TrimSpace(
		stripComments(doc))) == 0 {
		return Object{}, true, nil
	}

	newValue, ok := kinds[head.APIVersion+"/"+head.Kind]
	if !ok {
		return Object{}, false, fmt.Errorf("%s: unsupported apiVersion %q "+
			"and kind %q", source, head.APIVersion, head.Kind)
	}

	value := newValue()
	if err := yaml.UnmarshalStrict(doc, value); err != nil {
		return Object{}, false, fmt.Errorf("%s (%s %s): %w", source,
			head.Kind, head.Metadata.Name, err)
	}
	if head.Metadata.Name == "" {
		return Object{}, false, fmt.Errorf("%s: %s without metadata.name",
			source, head.Kind)
	}

	return Object{Source: source, Kind: head.Kind,
		Name: head.Metadata.Name, Value: value}, false, nil
}

func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for line := range bytes.Lines(doc) {
		trimmed := bytes.TrimSpace(line)
		if len(trimmed) == 0 || trimmed[0] == '#' || string(trimmed) == "---" {
			continue
		}
		out.Write(line)
	}

	return out.Bytes()
}

// LoadFiles decodes every document of the files matched by the glob
// patterns, which are relative to root, in sorted file order.
func LoadFiles(root string, patterns ...string) (Set, error) {
	var files []string
	for _, pattern := range patterns {
		matches, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			return Set{}, fmt.Errorf("glob %s: %w", pattern, err)
		}
		if len(matches) == 0 {
			return Set{}, fmt.Errorf("no file matches %s in %s", pattern, root)
		}
		files = append(files, matches...)
	}
	slices.Sort(files)

	var set Set
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return Set{}, err
		}

		rel, err := filepath.Rel(root, file)
		if err != nil {
			return Set{}, err
		}
		objects, err := DecodeStream(filepath.ToSlash(rel), data)
		if err != nil {
			return Set{}, err
		}
		set.Objects = append(set.Objects, objects...)
	}

	return set, nil
}

// Set is a group of manifest objects that are applied together.
type Set struct {
	Objects []Object
}

// Merge returns a set with the objects of s followed by those of other.
func (s Set) Merge(other Set) Set {
	return Set{Objects: slices.Concat(s.Objects, other.Objects)}
}

// Find returns the object of kind and name.
func (s Set) Find(kind, name string) (Object, bool) {
	for _, o := range s.Objects {
		if o.Kind == kind && o.Name == name {
			return o, true
		}
	}

	return Object{}, false
}

// Duplicates returns "Kind/name" for every object that occurs more than
// once, which kubectl apply would silently merge into one.
func (s Set) Duplicates() []string {
	seen := map[string]int{}
	var dups []string
	for _, o := range s.Objects {
		key := o.Kind + "/" + o.Name
		seen[key]++
		if seen[key] == 2 {
			dups = append(dups, key)
		}
	}

	return dups
}

// ConfigMap returns the ConfigMap called name.
func (s Set) ConfigMap(name string) (*corev1.ConfigMap, bool) {
	o, ok := s.Find("ConfigMap", name)
	if !ok {
		return nil, false
	}

	return o.Value.(*corev1.ConfigMap), true
}

// Secret returns the Secret called name.
func (s Set) Secret(name string) (*corev1.Secret, bool) {
	o, ok := s.Find("Secret", name)
	if !ok {
		return nil, false
	}

	return o.Value.(*corev1.Secret), true
}

// Services returns every Service.
func (s Set) Services() []*corev1.Service {
	return valuesOf[*corev1.Service](s, "Service")
}

// Ingresses returns every Ingress.
func (s Set) Ingresses() []*networkingv1.Ingress {
	return valuesOf[*networkingv1.Ingress](s, "Ingress")
}

// NetworkPolicies returns every NetworkPolicy.
func (s Set) NetworkPolicies() []*networkingv1.NetworkPolicy {
	return valuesOf[*networkingv1.NetworkPolicy](s, "NetworkPolicy")
}

func valuesOf[T any](s Set, kind string) []T {
	var out []T
	for _, o := range s.Objects {
		if o.Kind == kind {
			out = append(out, o.Value.(T))
		}
	}

	return out
}

// Workload is a Deployment, StatefulSet or Job with its pod template.
type Workload struct {
	Object
	Template *corev1.PodTemplateSpec
	// Selector is nil for a Job, whose pods no Service selects.
	Selector *metav1.LabelSelector
	// Replicas is 1 for a Job.
	Replicas int32
}

// Workloads returns every Deployment, StatefulSet and Job.
func (s Set) Workloads() []Workload {
	var out []Workload
	for _, o := range s.Objects {
		switch v := o.Value.(type) {
		case *appsv1.Deployment:
			out = append(out, Workload{Object: o, Template: &v.Spec.Template,
				Selector: v.Spec.Selector, Replicas: replicas(v.Spec.Replicas)})
		case *appsv1.StatefulSet:
			out = append(out, Workload{Object: o, Template: &v.Spec.Template,
				Selector: v.Spec.Selector, Replicas: replicas(v.Spec.Replicas)})
		case *batchv1.Job:
			out = append(out, Workload{Object: o, Template: &v.Spec.Template,
				Replicas: 1})
		}
	}

	return out
}

// Workload returns the Deployment, StatefulSet or Job called name.
func (s Set) Workload(name string) (Workload, bool) {
	for _, w := range s.Workloads() {
		if w.Name == name {
			return w, true
		}
	}

	return Workload{}, false
}

// replicas returns the replica count Kubernetes uses when the field is
// left out.
func replicas(n *int32) int32 {
	if n == nil {
		return 1
	}

	return *n
}

// Container returns the container called name in the pod template.
func (w Workload) Container(name string) (*corev1.Container, bool) {
	for i := range w.Template.Spec.Containers {
		if w.Template.Spec.Containers[i].Name == name {
			return &w.Template.Spec.Containers[i], true
		}
	}

	return nil, false
}

// ImageName returns image without its tag or digest.
func ImageName(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		image = image[:i]
	}

	return image
}
