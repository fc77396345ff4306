package notify

import (
	"context"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Channel is how a link reaches the customer.
type Channel string

// The channels. ChannelLink sends nothing: the agent console shows the link
// for the agent to copy into whatever channel they already use.
const (
	ChannelSMS      Channel = "sms"
	ChannelEmail    Channel = "email"
	ChannelWhatsApp Channel = "whatsapp"
	ChannelLink     Channel = "copy"
)

func (c Channel) String() string { return string(c) }

// Valid reports whether c is one of the known channels.
func (c Channel) Valid() bool {
	switch c {
	case ChannelSMS, ChannelEmail, ChannelWhatsApp, ChannelLink:
		return true
	}
	return false
}

// Normalised delivery statuses found in Receipt.Status. Provider vocabularies
// map onto these (NormalizeTwilioStatus); the provider's own word is kept in
// the status-callback types.
const (
	StatusQueued    = "queued"    // accepted by the provider, not yet handed on
	StatusSent      = "sent"      // handed to the carrier / the recipient's mail server
	StatusDelivered = "delivered" // the handset confirmed it
	StatusRead      = "read"      // the recipient opened it (WhatsApp, some RCS)
	StatusFailed    = "failed"    // will not be delivered
	StatusReady     = "ready"     // ChannelLink: the link is ready to be copied
)

// Message is one link to deliver to a customer.
type Message struct {
	Channel   Channel
	To        string // E.164 (+34600111222) for SMS and WhatsApp; an e-mail address for e-mail; unused for copy
	Subject   string // e-mail Subject; WhatsApp header text (truncated to 60 characters); unused for SMS
	Text      string // the message text; the link is appended for SMS and e-mail unless Text already contains it
	Link      string // the join link (absolute http or https URL)
	LinkLabel string // button / link label ("Join video call" when empty)
	Calendar  *Event // e-mail only: adds an iMIP invitation (RFC 6047) and an invite.ics attachment
	Ref       string // our reference (e.g. the session id), echoed in status callbacks where the provider allows it
	Name      string // the customer's name, for a greeting (WhatsApp template body {{1}}); optional
	// TemplateOnly asks the WhatsApp sender for its approved template message
	// at once, without trying the free-form cta_url message first (used after
	// an asynchronous 131047). Other channels refuse it.
	TemplateOnly bool
}

// Receipt is what a provider said when it accepted a message.
type Receipt struct {
	Channel    Channel
	ProviderID string    // Twilio "SM…", WhatsApp "wamid.…", e-mail Message-ID "<…>"; empty for copy
	Status     string    // one of the Status* constants
	At         time.Time // when the provider accepted it
	// Fallback is FallbackTemplate when the WhatsApp sender sent (or tried)
	// the approved template instead of the free-form message; ProviderID is
	// then the template message's ID.
	Fallback string
}

// FallbackTemplate is Receipt.Fallback for WhatsApp's template fallback.
const FallbackTemplate = "template"

// Sender delivers one message synchronously. Implementations validate the
// message first (ErrInvalid) and report provider failures as *ProviderError.
type Sender interface {
	Send(ctx context.Context, m Message) (Receipt, error)
}

// DefaultLinkLabel is used when Message.LinkLabel is empty.
const DefaultLinkLabel = "Join video call"

var e164 = regexp.MustCompile(`^\+[1-9]\d{6,14}$`)

const (
	maxSubject = 250  // runes; keeps the encoded header well under the 998-octet line limit
	maxLink    = 2000 // octets
	maxRef     = 512  // WhatsApp biz_opaque_callback_data limit
)

// Validate checks the message for its channel without sending anything. The
// error wraps ErrInvalid. Senders call it first; callers may call it to give
// synchronous feedback before handing the message to a Dispatcher.
func (m Message) Validate() error {
	switch m.Channel {
	case ChannelSMS, ChannelWhatsApp:
		if !e164.MatchString(m.To) {
			return invalidf("%s: To must be an E.164 number (+ then 7 to 15 digits, no spaces)", m.Channel)
		}
	case ChannelEmail:
		if _, err := parseAddress(m.To); err != nil {
			return invalidf("email: To: %v", err)
		}
	case ChannelLink:
	default:
		return invalidf("unknown channel %q", string(m.Channel))
	}
	if m.Calendar != nil && m.Channel != ChannelEmail {
		return invalidf("%s: a calendar invitation can only be sent by e-mail", m.Channel)
	}
	if m.TemplateOnly && m.Channel != ChannelWhatsApp {
		return invalidf("%s: TemplateOnly is for WhatsApp messages", m.Channel)
	}
	if m.Link == "" {
		if m.Channel != ChannelEmail || m.Calendar == nil {
			return invalidf("%s: Link is required", m.Channel)
		}
	} else if err := checkLink(m.Link); err != nil {
		return invalidf("%s: Link: %v", m.Channel, err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") || strings.ContainsAny(m.LinkLabel, "\r\n") {
		return invalidf("%s: Subject and LinkLabel must be one line", m.Channel)
	}
	if utf8.RuneCountInString(m.Subject) > maxSubject {
		return invalidf("%s: Subject longer than %d characters", m.Channel, maxSubject)
	}
	if !utf8.ValidString(m.Text) || !utf8.ValidString(m.Subject) || !utf8.ValidString(m.LinkLabel) || !utf8.ValidString(m.Name) {
		return invalidf("%s: text is not valid UTF-8", m.Channel)
	}
	if len(m.Ref) > maxRef {
		return invalidf("%s: Ref longer than %d bytes", m.Channel, maxRef)
	}
	return nil
}

// checkLink accepts absolute http(s) URLs with a host and no spaces or
// control characters.
func checkLink(s string) error {
	if len(s) > maxLink {
		return errString("longer than 2000 bytes")
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return errString("contains a space or control character")
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return errString("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errString("must be an http or https URL")
	}
	if u.Host == "" || u.User != nil {
		return errString("must have a host and no user info")
	}
	return nil
}

type errString string

func (e errString) Error() string { return string(e) }

// parseAddress accepts one RFC 5322 address ("a@b.example" or
// "Name <a@b.example>") whose domain has a dot or is localhost.
func parseAddress(s string) (*mail.Address, error) {
	if s == "" {
		return nil, errString("empty address")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, errString("not an e-mail address")
	}
	at := strings.LastIndexByte(a.Address, '@')
	if at <= 0 || at == len(a.Address)-1 {
		return nil, errString("not an e-mail address")
	}
	if strings.ContainsAny(a.Address, "\r\n<>") {
		return nil, errString("not an e-mail address")
	}
	return a, nil
}

// linkText is Text plus the link on its own line, unless Text already has it.
func (m Message) linkText(withLabel bool) string {
	if m.Link == "" || strings.Contains(m.Text, m.Link) {
		return m.Text
	}
	link := m.Link
	if withLabel {
		link = m.label() + ": " + m.Link
	}
	if strings.TrimSpace(m.Text) == "" {
		return link
	}
	sep := "\n"
	if withLabel {
		sep = "\n\n"
	}
	return strings.TrimRight(m.Text, "\r\n ") + sep + link
}

func (m Message) label() string {
	if strings.TrimSpace(m.LinkLabel) == "" {
		return DefaultLinkLabel
	}
	return m.LinkLabel
}

// truncate shortens s to at most n runes, cutting at a word boundary when
// one is near and ending with "…".
func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n-1]
	cut := len(r)
	for i := len(r) - 1; i >= len(r)/2; i-- {
		if r[i] == ' ' {
			cut = i
			break
		}
	}
	return strings.TrimRight(string(r[:cut]), " ,;:.-") + "…"
}

// MaskAddr hides most of a phone number or e-mail address, for logs and
// call records: +34600123456 → +34*******56, ana@example.com → a***@example.com.
func MaskAddr(s string) string {
	if at := strings.LastIndexByte(s, '@'); at > 0 {
		return s[:1] + "***" + s[at:]
	}
	if len(s) <= 4 {
		return "***"
	}
	return s[:3] + strings.Repeat("*", len(s)-5) + s[len(s)-2:]
}

// CopyLink is the Sender for ChannelLink: it sends nothing and reports the
// link as ready for the agent to copy.
type CopyLink struct{}

var _ Sender = CopyLink{}

// Send validates m and returns a Receipt with Status "ready".
func (CopyLink) Send(_ context.Context, m Message) (Receipt, error) {
	if m.Channel == "" {
		m.Channel = ChannelLink
	}
	if m.Channel != ChannelLink {
		return Receipt{Channel: ChannelLink}, invalidf("copy sender got a %q message", string(m.Channel))
	}
	if err := m.Validate(); err != nil {
		return Receipt{Channel: ChannelLink}, err
	}
	return Receipt{Channel: ChannelLink, Status: StatusReady, At: time.Now()}, nil
}

// forChannel fills an empty Channel with ch and rejects another channel.
func forChannel(m Message, ch Channel) (Message, error) {
	if m.Channel == "" {
		m.Channel = ch
	}
	if m.Channel != ch {
		return m, invalidf("%s sender got a %q message", ch, string(m.Channel))
	}
	return m, m.Validate()
}
