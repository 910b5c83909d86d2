package deploy

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// EnvSource records where a container's environment variable comes from.
type EnvSource struct {
	Name  string
	Value string
	// From is "env", "ConfigMap NAME" or "Secret NAME".
	From string
}

// varRef matches a $(NAME) reference in an env value. Kubernetes expands
// it when NAME is defined earlier in the container's env list or by
// envFrom, and leaves it as it is otherwise.
var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// ContainerEnv resolves the environment that Kubernetes gives container:
// envFrom first, then env, which overrides it, with values from the
// ConfigMaps and Secrets of set and $(NAME) references expanded. fields
// supplies the values of fieldRef paths such as metadata.name. A missing
// ConfigMap, Secret or key that is not marked optional is an error, and so
// is a reference to a variable that is not defined before it.
func ContainerEnv(
	set Set,
	c *corev1.Container,
	fields map[string]string,
) ([]EnvSource, error) {
	var env []EnvSource
	values := map[string]string{}
	add := func(name, value, from string) {
		for i := range env {
			if env[i].Name == name {
				env = append(env[:i], env[i+1:]...)
				break
			}
		}
		env = append(env, EnvSource{Name: name, Value: value, From: from})
		values[name] = value
	}

	for _, from := range c.EnvFrom {
		data, label, err := envFromData(set, from)
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", c.Name, err)
		}
		for _, k := range sortedKeys(data) {
			add(from.Prefix+k, data[k], label)
		}
	}

	for _, e := range c.Env {
		from := "env"
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			from = "Secret " + e.ValueFrom.SecretKeyRef.Name
		}
		if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
			from = "ConfigMap " + e.ValueFrom.ConfigMapKeyRef.Name
		}

		value, err := envValue(set, e, fields)
		if err != nil {
			return nil, fmt.Errorf("container %s, variable %s: %w",
				c.Name, e.Name, err)
		}

		value, err = expand(value, values)
		if err != nil {
			return nil, fmt.Errorf("container %s, variable %s: %w",
				c.Name, e.Name, err)
		}
		add(e.Name, value, from)
	}

	return env, nil
}

// EnvMap returns the variables of env as a map.
func EnvMap(env []EnvSource) map[string]string {
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}

	return m
}

func envFromData(set Set, from corev1.EnvFromSource) (map[string]string,
	string, error) {
	switch {
	case from.ConfigMapRef != nil:
		name := from.ConfigMapRef.Name
		cm, ok := set.ConfigMap(name)
		if !ok {
			if optional(from.ConfigMapRef.Optional) {
				return nil, "", nil
			}
			return nil, "", fmt.Errorf("envFrom names ConfigMap %s, which "+
				"is not in the manifests", name)
		}
		return cm.Data, "ConfigMap " + name, nil

	case from.SecretRef != nil:
		name := from.SecretRef.Name
		secret, ok := set.Secret(name)
		if !ok {
			if optional(from.SecretRef.Optional) {
				return nil, "", nil
			}
			return nil, "", fmt.Errorf("envFrom names Secret %s, which is "+
				"not in the manifests", name)
		}
		return secretData(secret), "Secret " + name, nil
	}

	return nil, "", fmt.Errorf("envFrom entry without configMapRef or secretRef")
}

func envValue(set Set, e corev1.EnvVar, fields map[string]string) (string,
	error) {
	if e.ValueFrom == nil {
		return e.Value, nil
	}

	switch src := e.ValueFrom; {
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		cm, ok := set.ConfigMap(ref.Name)
		if !ok {
			return "", fmt.Errorf("ConfigMap %s is not in the manifests",
				ref.Name)
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			return "", fmt.Errorf("ConfigMap %s has no key %s", ref.Name,
				ref.Key)
		}
		return v, nil

	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		secret, ok := set.Secret(ref.Name)
		if !ok {
			return "", fmt.Errorf("Secret %s is not in the manifests", ref.Name)
		}
		v, ok := secretData(secret)[ref.Key]
		if !ok {
			return "", fmt.Errorf("Secret %s has no key %s", ref.Name, ref.Key)
		}
		return v, nil

	case src.FieldRef != nil:
		v, ok := fields[src.FieldRef.FieldPath]
		if !ok {
			return "", fmt.Errorf("no value given for fieldRef %s",
				src.FieldRef.FieldPath)
		}
		return v, nil
	}

	return "", fmt.Errorf("unsupported valueFrom source")
}

// expand replaces $(NAME) references with the values defined so far, the
// way the kubelet does. A reference to an undefined variable is an error
// here, because the kubelet would pass it on literally.
func expand(value string, values map[string]string) (string, error) {
	var missing []string
	out := varRef.ReplaceAllStringFunc(value, func(ref string) string {
		name := varRef.FindStringSubmatch(ref)[1]
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
			return ref
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("references %s, which is not defined before it",
			strings.Join(missing, ", "))
	}

	return out, nil
}

// secretData returns the Secret's values as the kubelet resolves them:
// stringData merged over data.
func secretData(s *corev1.Secret) map[string]string {
	out := make(map[string]string, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		out[k] = string(v)
	}
	for k, v := range s.StringData {
		out[k] = v
	}

	return out
}

func optional(b *bool) bool {
	return b != nil && *b
}
