package deploy

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/types"
	"slices"
	"strings"

	"golang.org/x/tools/go/packages"
	"golang.org/x/tools/go/types/typeutil"
)

// ModulePrefix is the import path prefix of the project's own packages.
const ModulePrefix = "github.com/kafkablog/blog/"

// configPackage defines Reader, through which services read settings.
const configPackage = ModulePrefix + "shared/config"

// EnvRead is one environment variable that a program reads.
type EnvRead struct {
	Name string
	// Method is the config.Reader method or the os function that reads it.
	Method string
	// HasDefault is true when the method takes a default for an unset
	// variable (a parameter called def).
	HasDefault bool
	// Default is the default value when it is a constant, such as "10s"
	// for 10*time.Second, and empty otherwise.
	Default string
	// Position is the file and line of the call.
	Position string
}

// EnvReads type-checks the main packages matched by patterns (run in dir)
// with the project packages they import, and returns, for each main
// package path, the variables its code reads: calls of a config.Reader
// method whose first parameter is the variable name, and calls of
// os.Getenv and os.LookupEnv, each with a constant name. Only functions
// reachable from main count: those that main, init functions and
// package-level variables of project packages call or refer to, followed
// through the project's code. A call through an interface is not followed.
// A read whose name is not a constant is an error, because the variable
// it reads cannot be known.
func EnvReads(dir string, patterns ...string) (map[string][]EnvRead, error) {
	cfg := &packages.Config{
		Dir: dir,
		Mode: packages.NeedName | packages.NeedImports | packages.NeedDeps |
			packages.NeedTypes | packages.NeedSyntax | packages.NeedTypesInfo,
	}
	roots, err := packages.Load(cfg, patterns...)
	if err != nil {
		return nil, fmt.Errorf("load %v: %w", patterns, err)
	}

	out := map[string][]EnvRead{}
	for _, root := range roots {
		if root.Name != "main" {
			return nil, fmt.Errorf("%s is package %s, not a command",
				root.PkgPath, root.Name)
		}

		reads, err := readsFrom(root)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", root.PkgPath, err)
		}
		out[root.PkgPath] = reads
	}

	return out, nil
}

// funcBody is a function declaration with the package that type-checked
// it.
type funcBody struct {
	pkg  *packages.Package
	decl *ast.FuncDecl
}

// readsFrom walks the functions reachable from root's main and collects
// their reads.
func readsFrom(root *packages.Package) ([]EnvRead, error) {
	bodies := map[*types.Func]funcBody{}
	var starts []ast.Node
	var startPkgs []*packages.Package
	var errs []string
	packages.Visit([]*packages.Package{root}, nil, func(p *packages.Package) {
		for _, e := range p.Errors {
			errs = append(errs, e.Error())
		}
		if p != root && !strings.HasPrefix(p.PkgPath, ModulePrefix) {
			return
		}

		for _, file := range p.Syntax {
			for _, decl := range file.Decls {
				switch d := decl.(type) {
				case *ast.FuncDecl:
					fn, _ := p.TypesInfo.Defs[d.Name].(*types.Func)
					if fn != nil {
						bodies[fn] = funcBody{p, d}
					}
					if d.Recv == nil && (d.Name.Name == "init" ||
						(p == root && d.Name.Name == "main")) {
						starts = append(starts, d)
						startPkgs = append(startPkgs, p)
					}
				case *ast.GenDecl:
					starts = append(starts, d)
					startPkgs = append(startPkgs, p)
				}
			}
		}
	})
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}

	var reads []EnvRead
	visited := map[*types.Func]bool{}
	var queue []funcBody
	walk := func(p *packages.Package, node ast.Node) {
		ast.Inspect(node, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				read, ok, err := envRead(p, n)
				if err != nil {
					errs = append(errs, err.Error())
				}
				if ok {
					reads = append(reads, read)
				}
			case *ast.Ident:
				fn, ok := p.TypesInfo.Uses[n].(*types.Func)
				if !ok {
					return true
				}
				fn = fn.Origin()
				if body, ok := bodies[fn]; ok && !visited[fn] {
					visited[fn] = true
					queue = append(queue, body)
				}
			}
			return true
		})
	}

	for i, node := range starts {
		walk(startPkgs[i], node)
	}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		walk(next.pkg, next.decl)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}

	slices.SortFunc(reads, func(a, b EnvRead) int {
		return strings.Compare(a.Name, b.Name)
	})

	return reads, nil
}

// envRead returns the variable that call reads, if it is a call of a
// config.Reader method or of os.Getenv or os.LookupEnv.
func envRead(p *packages.Package, call *ast.CallExpr) (EnvRead, bool, error) {
	fn, ok := typeutil.Callee(p.TypesInfo, call).(*types.Func)
	if !ok || fn.Pkg() == nil {
		return EnvRead{}, false, nil
	}

	sig := fn.Type().(*types.Signature)
	pos := p.Fset.Position(call.Pos()).String()
	switch {
	case fn.Pkg().Path() == "os" && (fn.Name() == "Getenv" || fn.Name() == "LookupEnv"):
		name, err := constantString(p, call.Args[0], pos)
		return EnvRead{Name: name, Method: "os." + fn.Name(), Position: pos},
			true, err

	case fn.Pkg().Path() == configPackage && isReaderMethod(sig):
		params := sig.Params()
		if params.Len() == 0 || params.At(0).Name() != "name" || fn.Name() == "Fail" {
			return EnvRead{}, false, nil
		}

		name, err := constantString(p, call.Args[0], pos)
		if err != nil && p.PkgPath == configPackage {
			// One Reader method calling another with its own name
			// parameter, such as Addr calling String: not a read of its own.
			return EnvRead{}, false, nil
		}
		read := EnvRead{Name: name, Method: "Reader." + fn.Name(), Position: pos}
		for i := range params.Len() {
			if params.At(i).Name() == "def" && i < len(call.Args) {
				read.HasDefault = true
				read.Default = constantText(p, call.Args[i])
			}
		}
		return read, true, err
	}

	return EnvRead{}, false, nil
}

func isReaderMethod(sig *types.Signature) bool {
	recv := sig.Recv()
	if recv == nil {
		return false
	}

	t := recv.Type()
	if ptr, ok := t.(*types.Pointer); ok {
		t = ptr.Elem()
	}
	named, ok := t.(*types.Named)

	return ok && named.Obj().Name() == "Reader"
}

func constantString(p *packages.Package, arg ast.Expr, pos string) (string,
	error) {
	tv := p.TypesInfo.Types[arg]
	if tv.Value == nil || tv.Value.Kind() != constant.String {
		return "", fmt.Errorf("%s: environment variable name is not a "+
			"constant string", pos)
	}

	return constant.StringVal(tv.Value), nil
}

// constantText formats a constant default: strings as they are, durations
// in time.Duration notation and other numbers in decimal.
func constantText(p *packages.Package, arg ast.Expr) string {
	tv := p.TypesInfo.Types[arg]
	if tv.Value == nil {
		return ""
	}

	switch tv.Value.Kind() {
	case constant.String:
		return constant.StringVal(tv.Value)
	case constant.Int:
		n, _ := constant.Int64Val(tv.Value)
		if named, ok := tv.Type.(*types.Named); ok &&
			named.Obj().Pkg() != nil && named.Obj().Pkg().Path() == "time" &&
			named.Obj().Name() == "Duration" {
			return durationText(n)
		}
		return fmt.Sprint(n)
	}

	return tv.Value.ExactString()
}
