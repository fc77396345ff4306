package notify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// WhatsAppTemplate is an approved message template
// (https://developers.facebook.com/documentation/business-messaging/whatsapp/templates/overview)
// that WhatsApp sends when the customer is outside the 24 h window. It must
// have a URL button whose URL is URLBase followed by one variable, e.g.
// "https://video.example.com/j/{{1}}" (category UTILITY).
//
// The body's variables, if any, are filled in order:
//
//	{{1}}  the customer's name (Message.Name); when it is unknown, the
//	       message's Subject ("Your video call", an appointment's title)
//	{{2}}  the message text without the link ("Hello Ana, an agent is
//	       waiting for you on a video call.")
//
// Parameter text follows Meta's rules: no line breaks or tabs and no more
// than four consecutive spaces (every run of white space becomes one space).
type WhatsAppTemplate struct {
	Name       string // as approved: lower case letters, digits and underscores
	Language   string // its language code, e.g. "en_US", "es", "pt_BR"
	URLBase    string // the fixed part of the URL button, e.g. "https://video.example.com/j/"
	BodyParams int    // how many variables the body has: 0, 1 or 2
}

// WhatsAppMaxBodyParams is the most body variables WhatsAppTemplate can fill.
const WhatsAppMaxBodyParams = 2

var (
	templateName = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)
	templateLang = regexp.MustCompile(`^[a-z]{2,3}(_[A-Za-z]{2,4})?$`)
)

func (t WhatsAppTemplate) check() error {
	switch {
	case !templateName.MatchString(t.Name):
		return invalidf("whatsapp: template name must be the approved template's name (lower case letters, digits, _), not %q", t.Name)
	case !templateLang.MatchString(t.Language):
		return invalidf("whatsapp: template language must be a WhatsApp language code such as en_US or es, not %q", t.Language)
	case t.BodyParams < 0 || t.BodyParams > WhatsAppMaxBodyParams:
		return invalidf("whatsapp: template body_params must be 0 to %d (got %d)", WhatsAppMaxBodyParams, t.BodyParams)
	}
	u, err := url.Parse(t.URLBase)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return invalidf("whatsapp: template url_base must be the fixed http(s) part of the template's URL button, e.g. https://video.example.com/j/")
	}
	return nil
}

// templateMark is appended to biz_opaque_callback_data of template messages,
// so that a status webhook tells a failed template from a failed cta_url
// message (and a fallback never triggers another).
const templateMark = "|tpl"

// waTemplate is the "template" object of a template message (research
// whatsapp.md §3.5).
type waTemplate struct {
	Name     string `json:"name"`
	Language struct {
		Code   string `json:"code"`
		Policy string `json:"policy"`
	} `json:"language"`
	Components []waComponent `json:"components"`
}

type waComponent struct {
	Type       string    `json:"type"`
	SubType    string    `json:"sub_type,omitempty"`
	Index      string    `json:"index,omitempty"`
	Parameters []waParam `json:"parameters"`
}

type waParam struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// templateRequest builds the template message for m: body variables as
// documented on WhatsAppTemplate, the URL button's variable = m.Link without
// URLBase, biz_opaque_callback_data = Ref + templateMark.
func (w *WhatsApp) templateRequest(m Message) (waRequest, error) {
	t := w.cfg.Template
	suffix, ok := strings.CutPrefix(m.Link, t.URLBase)
	if !ok || suffix == "" {
		host := ""
		if u, err := url.Parse(m.Link); err == nil {
			host = u.Scheme + "://" + u.Host
		}
		return waRequest{}, invalidf("whatsapp: the join link (%s/…) does not start with the template's url_base %q: "+
			"url_base must be the fixed part of the URL button approved at Meta and the start of every join link", host, t.URLBase)
	}
	if len(m.Ref)+len(templateMark) > maxRef {
		return waRequest{}, invalidf("whatsapp: Ref longer than %d bytes cannot mark a template message", maxRef-len(templateMark))
	}
	tpl := &waTemplate{Name: t.Name}
	tpl.Language.Code, tpl.Language.Policy = t.Language, "deterministic"
	if t.BodyParams > 0 {
		values := []string{first(templateParam(m.Name, WhatsAppMaxBody), templateParam(m.Subject, WhatsAppMaxBody)),
			templateParam(m.Text, WhatsAppMaxBody)}
		body := waComponent{Type: "body"}
		for i, v := range values[:t.BodyParams] {
			if v == "" {
				return waRequest{}, invalidf("whatsapp: template body variable {{%d}} would be empty (%s)", i+1,
					[]string{"no customer name and no Subject", "no Text"}[i])
			}
			body.Parameters = append(body.Parameters, waParam{Type: "text", Text: v})
		}
		tpl.Components = append(tpl.Components, body)
	}
	tpl.Components = append(tpl.Components, waComponent{Type: "button", SubType: "url", Index: "0",
		Parameters: []waParam{{Type: "text", Text: suffix}}})
	return waRequest{
		MessagingProduct: "whatsapp",
		RecipientType:    "individual",
		To:               strings.TrimPrefix(m.To, "+"),
		Type:             "template",
		Template:         tpl,
		BizOpaque:        m.Ref + templateMark,
	}, nil
}

// sendTemplate sends the configured template for m.
func (w *WhatsApp) sendTemplate(ctx context.Context, m Message) (Receipt, error) {
	t := w.cfg.Template
	if t == nil {
		return Receipt{Channel: ChannelWhatsApp}, invalidf("whatsapp: a template message was asked for but none is configured " +
			"(sessions.notify.whatsapp.template)")
	}
	body, err := w.templateRequest(m)
	if err != nil {
		return Receipt{Channel: ChannelWhatsApp, Fallback: FallbackTemplate}, err
	}
	rec, err := w.post(ctx, body)
	rec.Fallback = FallbackTemplate
	var pe *ProviderError
	if errors.Is(err, ErrTemplate) && errors.As(err, &pe) {
		pe.Message = fmt.Sprintf("template %q in %s with %d body variable(s) and a URL button variable: %s",
			t.Name, t.Language, t.BodyParams, pe.Message)
	}
	return rec, err
}

// templateParam makes s acceptable as a template parameter: Meta refuses
// line breaks, tabs and more than four consecutive spaces, so every run of
// white space and control characters becomes one space; the result is
// trimmed and cut to n characters.
func templateParam(s string, n int) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	out := b.String()
	if utf8.RuneCountInString(out) > n {
		out = truncate(out, n)
	}
	return out
}
