package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MetaPropertiesFile is the name of the broker metadata file in each log dir (§11.5).
const MetaPropertiesFile = "meta.properties"

// BrokerMetadata is the content of meta.properties for a ZooKeeper-mode broker
// (ZkMetaProperties): version=0, broker.id and, once known, cluster.id.
type BrokerMetadata struct {
	BrokerID  int32
	ClusterID string // "" when absent
	Version   int
}

// ReadMetaProperties reads a meta.properties file (Java properties syntax). A missing file is an
// error wrapping fs.ErrNotExist. version must be 0 (absent means 0) and broker.id present.
func ReadMetaProperties(path string) (BrokerMetadata, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return BrokerMetadata{}, fmt.Errorf("read %s: %w", path, err)
	}
	props, err := parseProperties(string(data))
	if err != nil {
		return BrokerMetadata{}, fmt.Errorf("read %s: %w", path, err)
	}
	var m BrokerMetadata
	if v, ok := props["version"]; ok {
		if m.Version, err = strconv.Atoi(v); err != nil {
			return BrokerMetadata{}, fmt.Errorf("read %s: bad version %q", path, v)
		}
	}
	if m.Version != 0 {
		return BrokerMetadata{}, fmt.Errorf("read %s: unsupported meta.properties version %d (ZooKeeper mode needs 0)", path, m.Version)
	}
	id, ok := props["broker.id"]
	if !ok {
		return BrokerMetadata{}, fmt.Errorf("read %s: no broker.id", path)
	}
	n, err := strconv.ParseInt(id, 10, 32)
	if err != nil {
		return BrokerMetadata{}, fmt.Errorf("read %s: bad broker.id %q", path, id)
	}
	m.BrokerID = int32(n)
	m.ClusterID = props["cluster.id"]
	return m, nil
}

// WriteMetaProperties writes m as Java's Properties.store(out, "") does (BrokerMetadataCheckpoint):
// an empty comment line "#", a date comment, then key=value lines; atomically (tmp, fsync, rename).
func WriteMetaProperties(path string, m BrokerMetadata) error {
	return writeFileAtomic(path, formatMetaProperties(m, time.Now()))
}

func formatMetaProperties(m BrokerMetadata, now time.Time) []byte {
	var b bytes.Buffer
	b.WriteString("#\n")
	// java.util.Date.toString: "EEE MMM dd HH:mm:ss zzz yyyy".
	b.WriteString("#" + now.Format("Mon Jan 02 15:04:05 MST 2006") + "\n")
	if m.ClusterID != "" {
		b.WriteString(escapeProperty("cluster.id", true) + "=" + escapeProperty(m.ClusterID, false) + "\n")
	}
	fmt.Fprintf(&b, "version=%d\n", m.Version)
	fmt.Fprintf(&b, "broker.id=%d\n", m.BrokerID)
	return b.Bytes()
}

// escapeProperty is Properties.saveConvert: backslash escapes for \ \t \n \r \f = : # !, a
// leading space (every space in keys), and \uXXXX for characters outside printable ASCII.
func escapeProperty(s string, key bool) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == ' ' && (i == 0 || key):
			b.WriteString(`\ `)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '=' || r == ':' || r == '#' || r == '!':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r > 0x7e:
			for _, u := range utf16Units(r) {
				fmt.Fprintf(&b, `\u%04X`, u)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func utf16Units(r rune) []uint16 {
	if r < 0x10000 {
		return []uint16{uint16(r)}
	}
	r -= 0x10000
	return []uint16{uint16(0xD800 + (r >> 10)), uint16(0xDC00 + (r & 0x3FF))}
}

// parseProperties reads Java properties text (Properties.load): '#'/'!' comments, key and value
// separated by '=', ':' or whitespace, backslash escapes and line continuations.
func parseProperties(text string) (map[string]string, error) {
	props := make(map[string]string)
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimLeft(lines[i], " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		// A line ending in an odd number of backslashes continues on the next.
		for endsWithEscape(line) && i+1 < len(lines) {
			i++
			line = line[:len(line)-1] + strings.TrimLeft(lines[i], " \t\f")
		}
		key, value, err := splitProperty(line)
		if err != nil {
			return nil, err
		}
		props[key] = value
	}
	return props, nil
}

func endsWithEscape(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

func splitProperty(line string) (string, string, error) {
	end := len(line)
	for i := 0; i < len(line); i++ {
		if line[i] == '\\' {
			i++
			continue
		}
		if line[i] == '=' || line[i] == ':' || line[i] == ' ' || line[i] == '\t' || line[i] == '\f' {
			end = i
			break
		}
	}
	key, rest := line[:end], line[end:]
	rest = strings.TrimLeft(rest, " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	k, err := unescapeProperty(key)
	if err != nil {
		return "", "", err
	}
	v, err := unescapeProperty(rest)
	return k, v, err
}

func unescapeProperty(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	var units []uint16
	flush := func() {
		if len(units) > 0 {
			for _, r := range decodeUTF16(units) {
				b.WriteRune(r)
			}
			units = units[:0]
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			flush()
			b.WriteByte(c)
			continue
		}
		i++
		switch c = s[i]; c {
		case 'u':
			if i+5 > len(s) {
				return "", errors.New("malformed \\uxxxx encoding")
			}
			v, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", errors.New("malformed \\uxxxx encoding")
			}
			units = append(units, uint16(v))
			i += 4
			continue
		case 't':
			c = '\t'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 'f':
			c = '\f'
		}
		flush()
		b.WriteByte(c)
	}
	flush()
	return b.String(), nil
}

func decodeUTF16(u []uint16) []rune {
	var out []rune
	for i := 0; i < len(u); i++ {
		r := rune(u[i])
		if r >= 0xD800 && r < 0xDC00 && i+1 < len(u) && u[i+1] >= 0xDC00 && u[i+1] < 0xE000 {
			r = 0x10000 + (r-0xD800)<<10 + rune(u[i+1]-0xDC00)
			i++
		} else if r >= 0xD800 && r < 0xE000 {
			r = utf8.RuneError
		}
		out = append(out, r)
	}
	return out
}
