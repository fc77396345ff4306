package notifytest

import (
	"encoding/json"
	"strconv"
	"strings"
)

// WhatsAppTemplate is a message template approved on the fake's account.
type WhatsAppTemplate struct {
	Name       string
	Language   string // e.g. "en_US"
	BodyParams int    // how many {{n}} variables the body has
	// URL is the URL button's URL as approved, with its variable at the end,
	// e.g. "https://hub.example/j/{{1}}"; "" for a template without a
	// dynamic URL button.
	URL string
}

// ApproveTemplate makes t sendable (the fake's stand-in for WhatsApp
// Manager's template review).
func (f *WhatsAppFake) ApproveTemplate(t WhatsAppTemplate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.templates[t.Name+"\x00"+t.Language] = t
}

// Template-specific Graph errors.
var (
	// Err132001 is "template name does not exist in the translation".
	Err132001 = GraphError{HTTPStatus: 404, Code: 132001, Message: "(#132001) Template name does not exist in the translation"}
	// Err132000 is "number of parameters does not match".
	Err132000 = GraphError{HTTPStatus: 400, Code: 132000, Message: "(#132000) Number of parameters does not match the expected number of params"}
	// Err132018 is a parameter text Meta refuses (older API versions answer
	// code 100 with the same details).
	Err132018 = GraphError{HTTPStatus: 400, Code: 132018, Message: "(#132018) There was an issue with the parameters in your template.",
		Details: "Param text cannot have new-line/tab characters or more than 4 consecutive spaces"}
)

type waTemplateBody struct {
	Name     string `json:"name"`
	Language *struct {
		Code   string `json:"code"`
		Policy string `json:"policy"`
	} `json:"language"`
	Components []struct {
		Type       string          `json:"type"`
		SubType    string          `json:"sub_type"`
		Index      json.RawMessage `json:"index"` // "0" as documented; 0 also accepted
		Parameters []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"parameters"`
	} `json:"components"`
}

// badParamText is Meta's rule for parameter text.
func badParamText(s string) bool {
	return strings.ContainsAny(s, "\n\r\t") || strings.Contains(s, "     ")
}

// checkTemplate validates a template message against the approved
// templates and fills msg.
func (f *WhatsAppFake) checkTemplate(msg WhatsAppMessage, t *waTemplateBody) (WhatsAppMessage, *GraphError) {
	fail := func(e GraphError) (WhatsAppMessage, *GraphError) { return WhatsAppMessage{}, &e }
	switch {
	case t == nil:
		return fail(missingParam("template is required for type template"))
	case t.Name == "":
		return fail(missingParam("template.name is required"))
	case t.Language == nil || t.Language.Code == "":
		return fail(missingParam("template.language.code is required"))
	case t.Language.Policy != "" && t.Language.Policy != "deterministic":
		return fail(badParam("template.language.policy must be deterministic"))
	}
	f.mu.Lock()
	tpl, ok := f.templates[t.Name+"\x00"+t.Language.Code]
	f.mu.Unlock()
	if !ok {
		e := Err132001
		e.Details = "template name (" + t.Name + ") does not exist in " + t.Language.Code
		return fail(e)
	}
	var body, button []string
	for i, c := range t.Components {
		var texts []string
		for _, p := range c.Parameters {
			switch {
			case p.Type != "text":
				return fail(badParam("this fake supports text parameters only, not " + p.Type))
			case p.Text == "":
				return fail(missingParam("components[" + strconv.Itoa(i) + "]: parameter text is required"))
			case badParamText(p.Text):
				return fail(Err132018)
			}
			texts = append(texts, p.Text)
		}
		switch c.Type {
		case "body":
			body = append(body, texts...)
		case "header":
			if len(texts) > 0 {
				e := Err132000
				e.Details = "header: number of localizable_params (" + strconv.Itoa(len(texts)) + ") does not match the expected number of params (0)"
				return fail(e)
			}
		case "button":
			var idx string
			if err := json.Unmarshal(c.Index, &idx); err != nil {
				var n int
				if json.Unmarshal(c.Index, &n) != nil {
					return fail(missingParam("components[" + strconv.Itoa(i) + "].index is required for a button"))
				}
				idx = strconv.Itoa(n)
			}
			switch {
			case c.SubType != "url":
				return fail(badParam("this fake supports URL buttons only (sub_type url), not " + c.SubType))
			case idx != "0":
				return fail(badParam("button index " + idx + " does not exist in the template"))
			}
			button = append(button, texts...)
		default:
			return fail(badParam("component type must be header, body or button, not " + c.Type))
		}
	}
	if len(body) != tpl.BodyParams {
		e := Err132000
		e.Details = "body: number of localizable_params (" + strconv.Itoa(len(body)) + ") does not match the expected number of params (" +
			strconv.Itoa(tpl.BodyParams) + ")"
		return fail(e)
	}
	wantButton := 0
	if strings.Contains(tpl.URL, "{{1}}") {
		wantButton = 1
	}
	if len(button) != wantButton {
		e := Err132000
		e.Details = "buttons: number of params (" + strconv.Itoa(len(button)) + ") does not match the expected number of params (" +
			strconv.Itoa(wantButton) + ")"
		return fail(e)
	}
	msg.TemplateName, msg.TemplateLanguage, msg.BodyParams = t.Name, t.Language.Code, body
	msg.URL = tpl.URL
	if wantButton == 1 {
		msg.ButtonParam = button[0]
		msg.URL = strings.Replace(tpl.URL, "{{1}}", button[0], 1)
	}
	return msg, nil
}
