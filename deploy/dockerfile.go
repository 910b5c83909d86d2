package deploy

import (
	"encoding/json"
	"fmt"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Instruction is one Dockerfile instruction with its continuation lines
// joined.
type Instruction struct {
	Line int
	// Command is the instruction keyword in upper case, such as RUN.
	Command string
	// Flags are the leading --name=value options, such as --from=build.
	Flags map[string]string
	// Args is the rest of the instruction after the flags.
	Args string
}

// Stage is one FROM section of a Dockerfile.
type Stage struct {
	Name         string
	Base         string
	Instructions []Instruction
}

// ParseDockerfile splits a Dockerfile into stages. It handles comments,
// backslash line continuation and instruction flags. Parser directives
// and heredocs are not supported.
func ParseDockerfile(src string) ([]Stage, error) {
	var stages []Stage
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		start := i + 1
		text := strings.TrimSpace(lines[i])
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}

		for strings.HasSuffix(text, `\`) && i+1 < len(lines) {
			text = strings.TrimSuffix(text, `\`)
			i++
			next := strings.TrimSpace(lines[i])
			if strings.HasPrefix(next, "#") {
				continue
			}
			text += " " + next
		}

		ins := parseInstruction(start, text)
		if ins.Command == "FROM" {
			stage, err := parseFrom(ins)
			if err != nil {
				return nil, err
			}
			stages = append(stages, stage)
			continue
		}
		if len(stages) == 0 {
			return nil, fmt.Errorf("line %d: %s before the first FROM",
				start, ins.Command)
		}
		last := &stages[len(stages)-1]
		last.Instructions = append(last.Instructions, ins)
	}

	if len(stages) == 0 {
		return nil, fmt.Errorf("no FROM instruction")
	}

	return stages, nil
}

func parseInstruction(line int, text string) Instruction {
	command, rest, _ := strings.Cut(text, " ")
	ins := Instruction{Line: line, Command: strings.ToUpper(command),
		Flags: map[string]string{}}

	rest = strings.TrimSpace(rest)
	for strings.HasPrefix(rest, "--") {
		flag, after, _ := strings.Cut(rest, " ")
		name, value, _ := strings.Cut(strings.TrimPrefix(flag, "--"), "=")
		ins.Flags[name] = value
		rest = strings.TrimSpace(after)
	}
	ins.Args = rest

	return ins
}

func parseFrom(ins Instruction) (Stage, error) {
	fields := strings.Fields(ins.Args)
	switch {
	case len(fields) == 1:
		return Stage{Base: fields[0]}, nil
	case len(fields) == 3 && strings.EqualFold(fields[1], "AS"):
		return Stage{Base: fields[0], Name: fields[2]}, nil
	}

	return Stage{}, fmt.Errorf("line %d: invalid FROM %q", ins.Line, ins.Args)
}

// Find returns the instructions of the stage with the given command.
func (s Stage) Find(command string) []Instruction {
	var out []Instruction
	for _, ins := range s.Instructions {
		if ins.Command == command {
			out = append(out, ins)
		}
	}

	return out
}

// ExecForm decodes the JSON array form of ENTRYPOINT or CMD. The shell
// form, which runs the command through /bin/sh, is an error.
func (ins Instruction) ExecForm() ([]string, error) {
	var args []string
	if err := json.Unmarshal([]byte(ins.Args), &args); err != nil {
		return nil, fmt.Errorf("line %d: %s is not in exec form (a JSON "+
			"array): %w", ins.Line, ins.Command, err)
	}

	return args, nil
}

// Command is one simple command of a RUN line: its variable assignments
// and its words after shell quote removal.
type Command struct {
	Env  map[string]string
	Args []string
}

// ShellCommands parses a RUN instruction's shell form and returns its simple
// commands in order. Words with expansions ($VAR, $(cmd), globs) are
// rejected, because their value depends on the build.
func ShellCommands(script string) ([]Command, error) {
	file, err := syntax.NewParser().Parse(strings.NewReader(script), "")
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", script, err)
	}

	var cmds []Command
	var walkErr error
	syntax.Walk(file, func(node syntax.Node) bool {
		call, ok := node.(*syntax.CallExpr)
		if !ok || walkErr != nil {
			return walkErr == nil
		}

		cmd := Command{Env: map[string]string{}}
		for _, a := range call.Assigns {
			value, err := literal(a.Value)
			if err != nil {
				walkErr = err
				return false
			}
			cmd.Env[a.Name.Value] = value
		}
		for _, w := range call.Args {
			value, err := literal(w)
			if err != nil {
				walkErr = err
				return false
			}
			cmd.Args = append(cmd.Args, value)
		}
		cmds = append(cmds, cmd)

		return true
	})

	return cmds, walkErr
}

func literal(w *syntax.Word) (string, error) {
	if w == nil {
		return "", nil
	}

	var b strings.Builder
	for _, part := range w.Parts {
		switch p := part.(type) {
		case *syntax.Lit:
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, inner := range p.Parts {
				lit, ok := inner.(*syntax.Lit)
				if !ok {
					return "", fmt.Errorf("expansion in %q", wordText(w))
				}
				b.WriteString(lit.Value)
			}
		default:
			return "", fmt.Errorf("expansion in %q", wordText(w))
		}
	}

	return b.String(), nil
}

func wordText(w *syntax.Word) string {
	var b strings.Builder
	syntax.NewPrinter().Print(&b, w)
	return b.String()
}
