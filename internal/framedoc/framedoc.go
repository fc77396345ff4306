// Package framedoc keeps the protocol documents (docs/signalling.md,
// docs/sessions.md) in step with the code that speaks the protocols. It is
// used by tests only (internal/gateway and internal/hub frames_doc_test.go):
//
//   - from the code: which frame types a package sends and the Go struct of
//     each (every composite literal with a `Type: "…"` field), which types
//     it reads (the string cases of its dispatch functions), which error
//     codes it uses (literal arguments of its error helpers), and the JSON
//     fields of a struct (reflection, one level of nesting);
//   - from the documents: sections, tables, backticked names and JSON
//     examples.
//
// The tests compare the two both ways: a frame, field or code the code has
// and the document lacks fails, and so does one the document names and the
// code does not send or read. The prose stays in the documents, where
// people write it; the test says exactly what to add or remove.
package framedoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// parseDir parses the package's non-test Go files in dir.
func parseDir(dir string) ([]*ast.File, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, 0)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
}

func strLit(e ast.Expr) (string, bool) {
	b, ok := e.(*ast.BasicLit)
	if !ok || b.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(b.Value)
	return s, err == nil
}

// SentFrames finds the frames the package in dir builds: every composite
// literal of a named struct type with a `Type: "<type>"` element. It
// returns frame type → the struct names that carry it. A map literal with a
// "type" key is an error: frames must be typed structs, so that their
// fields can be checked.
func SentFrames(dir string) (map[string][]string, error) {
	files, err := parseDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	var errs []string
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			cl, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			switch t := cl.Type.(type) {
			case *ast.Ident:
				for _, e := range cl.Elts {
					kv, ok := e.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Type" {
						if v, ok := strLit(kv.Value); ok && !contains(out[v], t.Name) {
							out[v] = append(out[v], t.Name)
						}
					}
				}
			case *ast.MapType:
				for _, e := range cl.Elts {
					if kv, ok := e.(*ast.KeyValueExpr); ok {
						if k, ok := strLit(kv.Key); ok && k == "type" {
							errs = append(errs, fmt.Sprintf("%s: a frame built as a map literal; make it a struct type so its fields can be checked against the docs", f.Name.Name))
						}
					}
				}
			}
			return true
		})
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return out, nil
}

// funcDecl finds function name ("parseMessage") or method ("conn.handle").
func funcDecl(files []*ast.File, name string) *ast.FuncDecl {
	recv, fn, isMethod := strings.Cut(name, ".")
	if !isMethod {
		fn, recv = recv, ""
	}
	for _, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Name.Name != fn {
				continue
			}
			got := ""
			if fd.Recv != nil && len(fd.Recv.List) == 1 {
				t := fd.Recv.List[0].Type
				if st, ok := t.(*ast.StarExpr); ok {
					t = st.X
				}
				if id, ok := t.(*ast.Ident); ok {
					got = id.Name
				}
			}
			if got == recv {
				return fd
			}
		}
	}
	return nil
}

// CaseStrings returns the string literals of the case clauses of function
// (or "Type.method") name in the package in dir, and of its comparisons
// `x == "…"`: the message types a dispatch function reads.
func CaseStrings(dir, name string) ([]string, error) {
	files, err := parseDir(dir)
	if err != nil {
		return nil, err
	}
	fd := funcDecl(files, name)
	if fd == nil {
		return nil, fmt.Errorf("no function %s in %s", name, dir)
	}
	var out []string
	add := func(e ast.Expr) {
		if s, ok := strLit(e); ok && !contains(out, s) {
			out = append(out, s)
		}
	}
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.CaseClause:
			for _, e := range x.List {
				add(e)
			}
		case *ast.BinaryExpr:
			if x.Op == token.EQL {
				add(x.Y)
			}
		}
		return true
	})
	sort.Strings(out)
	return out, nil
}

// CallStrings returns the string literals passed as argument arg (0-based)
// to calls of the functions or methods named in fns, in the package in dir.
func CallStrings(dir string, arg int, fns ...string) ([]string, error) {
	files, err := parseDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			c, ok := n.(*ast.CallExpr)
			if !ok || len(c.Args) <= arg {
				return true
			}
			name := ""
			switch fn := c.Fun.(type) {
			case *ast.Ident:
				name = fn.Name
			case *ast.SelectorExpr:
				name = fn.Sel.Name
			}
			if contains(fns, name) {
				if s, ok := strLit(c.Args[arg]); ok && !contains(out, s) {
					out = append(out, s)
				}
			}
			return true
		})
	}
	sort.Strings(out)
	return out, nil
}

// Fields are a struct's JSON fields: name → the JSON fields of the object
// it holds (for a struct, a pointer to one or a slice of them; nil for
// anything else: strings, numbers, maps, times).
type Fields map[string][]string

// FieldsOf reads the JSON fields of struct type t (one level of nesting).
func FieldsOf(t reflect.Type) Fields {
	out := Fields{}
	for _, f := range jsonFields(t) {
		out[f.name] = nil
		if nt := objectType(f.typ); nt != nil {
			for _, g := range jsonFields(nt) {
				out[f.name] = append(out[f.name], g.name)
			}
			sort.Strings(out[f.name])
		}
	}
	return out
}

type jsonField struct {
	name string
	typ  reflect.Type
}

func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name, f.Type})
	}
	return out
}

func objectType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == reflect.TypeOf(time.Time{}) {
		return nil
	}
	return t
}

// Names returns the sorted names of f's fields, without "type".
func (f Fields) Names() []string {
	var out []string
	for k := range f {
		if k != "type" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Doc is a Markdown document.
type Doc struct {
	Path string
	Text string
}

// Read reads a document.
func Read(path string) (Doc, error) {
	b, err := os.ReadFile(path)
	return Doc{Path: path, Text: string(b)}, err
}

// Section is the text under the heading whose line is exactly heading
// ("## Server → client"), up to the next heading of the same or a higher
// level ("" if there is no such heading). Fenced code blocks are skipped
// when looking for headings.
func (d Doc) Section(heading string) string {
	level := strings.IndexByte(heading, ' ')
	lines := strings.Split(d.Text, "\n")
	in, fence := false, false
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "```") {
			fence = !fence
		}
		if !fence && strings.HasPrefix(l, "#") {
			lv := strings.IndexByte(l, ' ')
			if in && lv > 0 && lv <= level {
				break
			}
			if l == heading {
				in = true
				continue
			}
		}
		if in {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Subsection is one heading of a section and its text.
type Subsection struct {
	Title string // the heading's text, without the #s
	Text  string
}

// Subsections splits text at its headings of level (3: "### ").
func Subsections(text string, level int) []Subsection {
	prefix := strings.Repeat("#", level) + " "
	var out []Subsection
	fence := false
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "```") {
			fence = !fence
		}
		if !fence && strings.HasPrefix(l, prefix) {
			out = append(out, Subsection{Title: strings.TrimPrefix(l, prefix)})
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].Text += l + "\n"
		}
	}
	return out
}

// JSONObjects decodes every JSON value of the ```json blocks in text (a
// block may hold several, one after the other).
func JSONObjects(text string) ([]map[string]any, error) {
	var out []map[string]any
	rest := text
	for {
		i := strings.Index(rest, "```json\n")
		if i < 0 {
			return out, nil
		}
		rest = rest[i+len("```json\n"):]
		j := strings.Index(rest, "```")
		if j < 0 {
			return out, fmt.Errorf("unterminated json block")
		}
		dec := json.NewDecoder(bytes.NewReader([]byte(rest[:j])))
		for {
			var m map[string]any
			err := dec.Decode(&m)
			if err == io.EOF {
				break
			}
			if err != nil {
				return out, fmt.Errorf("json block %q: %v", firstLine(rest[:j]), err)
			}
			out = append(out, m)
		}
		rest = rest[j+3:]
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// Keys are the keys of m, and of the objects its values hold (an object, or
// an array of objects): key → nested keys.
func Keys(m map[string]any) Fields {
	out := Fields{}
	for k, v := range m {
		out[k] = nil
		var objs []map[string]any
		switch x := v.(type) {
		case map[string]any:
			objs = append(objs, x)
		case []any:
			for _, e := range x {
				if o, ok := e.(map[string]any); ok {
					objs = append(objs, o)
				}
			}
		}
		for _, o := range objs {
			for nk := range o {
				if !contains(out[k], nk) {
					out[k] = append(out[k], nk)
				}
			}
		}
		sort.Strings(out[k])
	}
	return out
}

// Tables returns the Markdown tables of text, in order: each a list of
// rows of cells, header and separator rows left out.
func Tables(text string) [][][]string {
	var out [][][]string
	in := false
	header := true
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "|") {
			in, header = false, true
			continue
		}
		cells := strings.Split(strings.Trim(l, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if !in {
			out = append(out, nil)
			in = true
		}
		if header {
			header = false
			continue // the header row
		}
		if strings.Trim(strings.Join(cells, ""), "-: ") == "" {
			continue // the separator row
		}
		out[len(out)-1] = append(out[len(out)-1], cells)
	}
	return out
}

// TableRows returns the rows of the first table in text.
func TableRows(text string) [][]string {
	if t := Tables(text); len(t) > 0 {
		return t[0]
	}
	return nil
}

var backticked = regexp.MustCompile("`([^`]*)`")

// Backticked returns the `quoted` names of a cell, in order.
func Backticked(cell string) []string {
	var out []string
	for _, m := range backticked.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

var ident = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// FieldList reads a table's fields cell: `a`, `b` `{x, y}`, `c` — field
// names, each optionally followed by the fields of the object it holds.
// Anything else backticked is an error (values belong in the meaning
// column).
func FieldList(cell string) (Fields, error) {
	out := Fields{}
	last := ""
	for _, b := range Backticked(cell) {
		switch {
		case strings.HasPrefix(b, "{") && strings.HasSuffix(b, "}") && last != "":
			for _, n := range strings.Split(strings.Trim(b, "{}"), ",") {
				out[last] = append(out[last], strings.TrimSpace(n))
			}
			sort.Strings(out[last])
		case ident.MatchString(b):
			out[b] = nil
			last = b
		default:
			return out, fmt.Errorf("%q is not a field name (values go in the meaning column)", b)
		}
	}
	return out, nil
}

// Diff says how want (the code) and got (the document) differ, field by
// field and in nested objects; "" when they agree.
func Diff(what string, code, doc Fields) string {
	var out []string
	for _, k := range sortedKeys(code) {
		if k == "type" {
			continue
		}
		dn, ok := doc[k]
		if !ok {
			out = append(out, fmt.Sprintf("%s: field %q is in the code, not in the document", what, k))
			continue
		}
		if code[k] != nil { // an object of a known shape (a map's keys are free)
			if d := setDiff(code[k], dn); d != "" {
				out = append(out, fmt.Sprintf("%s: field %q: %s", what, k, d))
			}
		}
	}
	for _, k := range sortedKeys(doc) {
		if _, ok := code[k]; !ok && k != "type" {
			out = append(out, fmt.Sprintf("%s: field %q is in the document, the code has no such field", what, k))
		}
	}
	return strings.Join(out, "\n")
}

// Subset reports the keys (and nested keys) of doc the code lacks.
func Subset(what string, code, doc Fields) string {
	var out []string
	for _, k := range sortedKeys(doc) {
		if k == "type" {
			continue
		}
		cn, ok := code[k]
		if !ok {
			out = append(out, fmt.Sprintf("%s: field %q is in the document, the code has no such field", what, k))
			continue
		}
		for _, n := range doc[k] {
			if cn != nil && !contains(cn, n) {
				out = append(out, fmt.Sprintf("%s: %s.%s is in the document, not in the code", what, k, n))
			}
		}
	}
	return strings.Join(out, "\n")
}

func setDiff(code, doc []string) string {
	var out []string
	for _, n := range code {
		if !contains(doc, n) {
			out = append(out, n+" missing from the document")
		}
	}
	for _, n := range doc {
		if !contains(code, n) {
			out = append(out, n+" not in the code")
		}
	}
	return strings.Join(out, ", ")
}

// SetDiff compares two sets of names; "" when they are equal.
func SetDiff(what string, code, doc []string) string {
	if d := setDiff(code, doc); d != "" {
		return what + ": " + d
	}
	return ""
}

func sortedKeys(f Fields) []string {
	var out []string
	for k := range f {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
