package credential

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strconv"
	"strings"
	"time"

	"codeberg.org/go-pdf/fpdf"
	qr "github.com/piglig/go-qr"
)

// PrintedTranscript is what the printable transcript shows: the learner,
// each outcome of its credential, and the link its QR code carries.
type PrintedTranscript struct {
	Bank     string
	Learner  string
	IssuedAt time.Time
	// CredentialID is the ClrCredential's id; Link the verification page
	// of the credential, which the QR code encodes.
	CredentialID string
	Link         string
	Outcomes     []PrintedOutcome
}

// PrintedOutcome is an outcome with its status in the learner's record.
type PrintedOutcome struct {
	Outcome
	Status string
}

// qrModulePixels is the side of a QR module in the embedded image: with
// the image printed 45 mm wide, a link of about 100 characters (version
// 6, 41 modules and 8 of quiet zone) has modules of 0.9 mm, which phones
// read at arm's length.
const qrModulePixels = 8

// QRImage is the QR code of text (error correction level M) as a PNG with
// a quiet zone of four modules.
func QRImage(text string) ([]byte, error) {
	code, err := qr.EncodeText(text, qr.Medium)
	if err != nil {
		return nil, fmt.Errorf("qr code: %w", err)
	}
	const quiet = 4
	side := (code.Size() + 2*quiet) * qrModulePixels
	img := image.NewGray(image.Rect(0, 0, side, side))
	for y := range side {
		for x := range side {
			mx, my := x/qrModulePixels-quiet, y/qrModulePixels-quiet
			c := color.Gray{Y: 255}
			if mx >= 0 && my >= 0 && mx < code.Size() && my < code.Size() && code.Module(mx, my) {
				c = color.Gray{Y: 0}
			}
			img.SetGray(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// columns of the outcome table: heading and width in mm (A4 landscape,
// 277 mm between the margins).
var columns = []struct {
	name  string
	width float64
}{
	{"Institution", 48}, {"Unit", 62}, {"Credits", 28}, {"Std. credits", 24}, {"Level", 11},
	{"Field", 36}, {"Result", 26}, {"Completed", 22}, {"Status", 20},
}

// RenderPDF renders t as a PDF: the learner and the credential on top,
// the QR code of the link at the top right, then a table of the outcomes
// over as many pages as they need. The PDF's built-in fonts cover Latin-1
// (Windows-1252): a character outside it prints as "?", and the credential
// the QR code links to holds the exact text.
func RenderPDF(t PrintedTranscript) ([]byte, error) {
	qrPNG, err := QRImage(t.Link)
	if err != nil {
		return nil, err
	}
	pdf := fpdf.New("L", "mm", "A4", "")
	pdf.SetCreationDate(t.IssuedAt)
	pdf.SetModificationDate(t.IssuedAt)
	pdf.SetTitle("Transcript of "+t.Learner, true)
	pdf.SetAuthor(t.Bank, true)
	pdf.SetCreator("creditbank", false)
	pdf.SetMargins(10, 10, 10)
	pdf.SetAutoPageBreak(false, 12)
	tr := latin1(pdf)
	// Each page names the learner and the credential, so that a page
	// separated from the others still says whose it is.
	pdf.AliasNbPages("")
	pdf.SetFooterFunc(func() {
		pdf.SetXY(10, -10)
		pdf.SetFont("Helvetica", "", 7)
		pdf.CellFormat(0, 4, tr(fmt.Sprintf("Learner %s, credential %s: page %d of {nb}", t.Learner, t.CredentialID, pdf.PageNo())), "", 0, "R", false, 0, "")
	})
	pdf.AddPage()

	pdf.RegisterImageOptionsReader("qr", fpdf.ImageOptions{ImageType: "PNG"}, bytes.NewReader(qrPNG))
	pdf.ImageOptions("qr", 242, 10, 45, 45, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
	pdf.SetFont("Helvetica", "B", 16)
	pdf.CellFormat(225, 9, tr("Transcript of learning outcomes"), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	for _, line := range []string{
		"Issued by " + t.Bank,
		"Learner: " + t.Learner,
		"Issued on " + t.IssuedAt.UTC().Format("2 January 2006, 15:04 UTC"),
		"Credential " + t.CredentialID + " (CLR 2.0), " + strconv.Itoa(len(t.Outcomes)) + " outcomes",
	} {
		pdf.CellFormat(225, 6, tr(line), "", 1, "L", false, 0, "")
	}
	pdf.SetFont("Helvetica", "", 8)
	pdf.MultiCell(225, 4.5, tr("Scan the QR code, or open the link below, to verify this transcript against the bank's signature, "+
		"the credential's revocation status and the public ledger: "+t.Link), "", "L", false)
	pdf.SetY(60)
	header(pdf, tr)
	for _, o := range t.Outcomes {
		row(pdf, tr, o)
	}
	var b bytes.Buffer
	if err := pdf.Output(&b); err != nil {
		return nil, fmt.Errorf("render pdf: %w", err)
	}
	return b.Bytes(), nil
}

// latin1 translates UTF-8 text to the built-in fonts' Windows-1252, a
// character outside it to "?".
func latin1(pdf *fpdf.Fpdf) func(string) string {
	cp := pdf.UnicodeTranslatorFromDescriptor("")
	return func(s string) string {
		var b strings.Builder
		for _, r := range s {
			if r < 0x80 {
				b.WriteRune(r)
				continue
			}
			if t := cp(string(r)); len(t) == 1 {
				b.WriteString(t)
			} else {
				b.WriteByte('?')
			}
		}
		return b.String()
	}
}

const lineHeight = 4.5

func header(pdf *fpdf.Fpdf, tr func(string) string) {
	pdf.SetFont("Helvetica", "B", 8)
	pdf.SetFillColor(230, 230, 230)
	for _, c := range columns {
		pdf.CellFormat(c.width, 7, tr(c.name), "1", 0, "L", true, 0, "")
	}
	pdf.Ln(7)
	pdf.SetFont("Helvetica", "", 8)
}

// row prints an outcome, each cell wrapped to its width, on a new page
// (with the table's header) when it does not fit on this one.
func row(pdf *fpdf.Fpdf, tr func(string) string, o PrintedOutcome) {
	result := "failed"
	if o.Passed {
		result = "passed"
	}
	if o.Score != "" {
		result += ", score " + o.Score
	}
	cells := []string{
		o.Institution.Name + " (" + o.Institution.ID + ")",
		o.UnitCode + " " + o.UnitTitle,
		o.Credits + " " + o.CreditSystem,
		o.StandardCredits,
		strconv.Itoa(o.Level),
		o.Field + " " + o.FieldName,
		result, o.CompletedOn, o.Status,
	}
	lines := make([][]string, len(cells))
	n := 1
	for i, c := range cells {
		// SplitText reads UTF-8: translate each line after splitting.
		lines[i] = pdf.SplitText(c, columns[i].width-2)
		for j := range lines[i] {
			lines[i][j] = tr(lines[i][j])
		}
		n = max(n, len(lines[i]))
	}
	h := float64(n)*lineHeight + 1
	_, pageHeight := pdf.GetPageSize()
	if pdf.GetY()+h > pageHeight-12 {
		pdf.AddPage()
		header(pdf, tr)
	}
	x, y := pdf.GetX(), pdf.GetY()
	for i, c := range columns {
		pdf.Rect(x, y, c.width, h, "D")
		for j, l := range lines[i] {
			pdf.Text(x+1, y+float64(j+1)*lineHeight-0.5, l)
		}
		x += c.width
	}
	pdf.SetXY(10, y+h)
}
