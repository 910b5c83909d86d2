package deploy

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Peer is a pod that opens a connection: its namespace's labels, whether
// that namespace is the one the policies live in, and its own labels.
type Peer struct {
	Name            string
	SameNamespace   bool
	NamespaceLabels map[string]string
	PodLabels       map[string]string
}

// IngressAllowed reports whether the NetworkPolicies admit a TCP
// connection from peer to a pod with the labels dest on port, following
// the NetworkPolicy API: a pod that no policy with policyType Ingress
// selects admits everything; otherwise one rule of one selecting policy
// must match both the peer and the port. Named ports are not supported.
func IngressAllowed(
	policies []*networkingv1.NetworkPolicy,
	peer Peer,
	dest map[string]string,
	port int32,
) (bool, error) {
	isolated := false
	for _, p := range policies {
		if !hasIngressType(p) {
			continue
		}

		selects, err := matches(&p.Spec.PodSelector, dest)
		if err != nil {
			return false, fmt.Errorf("policy %s: %w", p.Name, err)
		}
		if !selects {
			continue
		}
		isolated = true

		for _, rule := range p.Spec.Ingress {
			ok, err := ruleAdmits(rule, peer, port)
			if err != nil {
				return false, fmt.Errorf("policy %s: %w", p.Name, err)
			}
			if ok {
				return true, nil
			}
		}
	}

	return !isolated, nil
}

// hasIngressType applies the API default: policyTypes left out means
// Ingress (plus Egress when egress rules are present).
func hasIngressType(p *networkingv1.NetworkPolicy) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		return true
	}
	for _, t := range p.Spec.PolicyTypes {
		if t == networkingv1.PolicyTypeIngress {
			return true
		}
	}

	return false
}

func ruleAdmits(rule networkingv1.NetworkPolicyIngressRule, peer Peer,
	port int32) (bool, error) {
	portOK := len(rule.Ports) == 0
	for _, p := range rule.Ports {
		if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			continue
		}
		if p.Port == nil {
			portOK = true
			break
		}
		if p.Port.StrVal != "" {
			return false, fmt.Errorf("named port %s is not supported", p.Port.StrVal)
		}

		end := p.Port.IntVal
		if p.EndPort != nil {
			end = *p.EndPort
		}
		if port >= p.Port.IntVal && port <= end {
			portOK = true
			break
		}
	}
	if !portOK {
		return false, nil
	}

	if len(rule.From) == 0 {
		return true, nil
	}
	for _, from := range rule.From {
		ok, err := peerMatches(from, peer)
		if err != nil || ok {
			return ok, err
		}
	}

	return false, nil
}

func peerMatches(from networkingv1.NetworkPolicyPeer, peer Peer) (bool, error) {
	if from.IPBlock != nil {
		// Pod traffic is matched by selectors here; IP blocks name
		// addresses outside the cluster.
		return false, nil
	}

	if from.NamespaceSelector == nil {
		// A podSelector alone selects pods in the policy's namespace.
		if !peer.SameNamespace {
			return false, nil
		}
		return matches(from.PodSelector, peer.PodLabels)
	}

	nsOK, err := matches(from.NamespaceSelector, peer.NamespaceLabels)
	if err != nil || !nsOK {
		return false, err
	}
	if from.PodSelector == nil {
		return true, nil
	}

	return matches(from.PodSelector, peer.PodLabels)
}

func matches(sel *metav1.LabelSelector, set map[string]string) (bool, error) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, err
	}

	return s.Matches(labels.Set(set)), nil
}

// SelectorMatches reports whether sel selects a pod with the labels set. An
// empty selector selects every pod.
func SelectorMatches(sel *metav1.LabelSelector, set map[string]string) (bool,
	error) {
	return matches(sel, set)
}
