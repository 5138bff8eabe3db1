package config

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A schema maps Kafka property names (the yaml tags) to struct fields, so the YAML file, --override, Set,
// topic overrides and DescribeConfigs all share one parser and one formatter per Go type.
type schema struct {
	keys   []string // sorted
	fields map[string]schemaField
}

type schemaField struct {
	index []int
	typ   reflect.Type
}

var (
	brokerSchema = newSchema(reflect.TypeOf(Config{}))
	topicSchema  = newSchema(reflect.TypeOf(TopicConfig{}))
)

func newSchema(t reflect.Type) *schema {
	s := &schema{fields: map[string]schemaField{}}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("yaml")
		if name == "" {
			continue
		}
		if !supported(f.Type) {
			panic(fmt.Sprintf("config: field %s has unsupported type %s", f.Name, f.Type))
		}
		if _, dup := s.fields[name]; dup {
			panic("config: duplicate key " + name)
		}
		s.fields[name] = schemaField{index: f.Index, typ: f.Type}
		s.keys = append(s.keys, name)
	}
	sort.Strings(s.keys)
	return s
}

func supported(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int16, reflect.Int32, reflect.Int64, reflect.Float64, reflect.Bool, reflect.String:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	}
	return false
}

func (s *schema) lookup(key string) (schemaField, bool) {
	f, ok := s.fields[key]
	return f, ok
}

// set parses raw into the field named key of the struct pointed to by ptr. The returned error is the reason
// only ("not a number of type INT"); callers wrap it with the key and value.
func (s *schema) set(ptr any, key, raw string) error {
	f, ok := s.fields[key]
	if !ok {
		return errUnknown
	}
	v := reflect.ValueOf(ptr).Elem().FieldByIndex(f.index)
	if f.typ.Kind() == reflect.Pointer {
		e := reflect.New(f.typ.Elem())
		if err := parseInto(e.Elem(), raw); err != nil {
			return err
		}
		v.Set(e)
		return nil
	}
	return parseInto(v, raw)
}

// setNull makes a nullable key unset: pointer fields become nil, lists whose default is nil become nil.
func (s *schema) setNull(ptr any, key string, defaults any) error {
	f := s.fields[key]
	v := reflect.ValueOf(ptr).Elem().FieldByIndex(f.index)
	d := reflect.ValueOf(defaults).Elem().FieldByIndex(f.index)
	switch {
	case f.typ.Kind() == reflect.Pointer, f.typ.Kind() == reflect.Slice && d.IsNil():
		v.Set(reflect.Zero(f.typ))
		return nil
	}
	return fmt.Errorf("requires a value of type %s", kafkaTypeName(f.typ))
}

func parseInto(v reflect.Value, raw string) error {
	// Kafka's ConfigDef.parseType trims every value before parsing it.
	s := strings.TrimSpace(raw)
	switch v.Kind() {
	case reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("not a number of type %s", kafkaTypeName(v.Type()))
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("not a number of type DOUBLE")
		}
		v.SetFloat(f)
	case reflect.Bool:
		switch {
		case strings.EqualFold(s, "true"):
			v.SetBool(true)
		case strings.EqualFold(s, "false"):
			v.SetBool(false)
		default:
			return fmt.Errorf("expected true or false")
		}
	case reflect.String:
		v.SetString(s)
	case reflect.Slice:
		v.Set(reflect.ValueOf(splitList(s)))
	default:
		panic("config: unsupported kind " + v.Kind().String())
	}
	return nil
}

// splitList splits a comma-separated list, trimming entries and dropping empty ones (CoreUtils.parseCsvList).
// An empty input gives an empty, non-nil list: the key is set, to nothing.
func splitList(s string) []string {
	out := []string{}
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// format renders the field named key the way Kafka's ConfigDef.convertToString does; nil means null.
func (s *schema) format(ptr any, key string) *string {
	f := s.fields[key]
	v := reflect.ValueOf(ptr).Elem().FieldByIndex(f.index)
	if f.typ.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	var out string
	switch v.Kind() {
	case reflect.Int16, reflect.Int32, reflect.Int64:
		out = strconv.FormatInt(v.Int(), 10)
	case reflect.Float64:
		out = javaDouble(v.Float())
	case reflect.Bool:
		out = strconv.FormatBool(v.Bool())
	case reflect.String:
		out = v.String()
		if out == "" && nullWhenEmpty[key] {
			return nil
		}
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		out = strings.Join(v.Interface().([]string), ",")
	}
	return &out
}

// String keys whose Kafka default is null, which this package stores as "".
var nullWhenEmpty = map[string]bool{
	"broker.rack":                true,
	"zookeeper.connect":          true,
	"inter.broker.listener.name": true,
}

// Keys held as []string for YAML convenience whose Kafka type is STRING (a comma-separated value).
var stringTypedLists = map[string]bool{
	"listeners":                      true,
	"advertised.listeners":           true,
	"log.dirs":                       true,
	"listener.security.protocol.map": true,
}

func (s *schema) configType(key string) kmsg.ConfigType {
	if stringTypedLists[key] {
		return kmsg.ConfigTypeString
	}
	t := s.fields[key].typ
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int16:
		return kmsg.ConfigTypeShort
	case reflect.Int32:
		return kmsg.ConfigTypeInt
	case reflect.Int64:
		return kmsg.ConfigTypeLong
	case reflect.Float64:
		return kmsg.ConfigTypeDouble
	case reflect.Bool:
		return kmsg.ConfigTypeBoolean
	case reflect.String:
		return kmsg.ConfigTypeString
	case reflect.Slice:
		return kmsg.ConfigTypeList
	}
	return kmsg.ConfigTypeUnknown
}

func kafkaTypeName(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int16:
		return "SHORT"
	case reflect.Int32:
		return "INT"
	case reflect.Int64:
		return "LONG"
	case reflect.Float64:
		return "DOUBLE"
	case reflect.Bool:
		return "BOOLEAN"
	case reflect.String:
		return "STRING"
	case reflect.Slice:
		return "LIST"
	}
	return "UNKNOWN"
}

func (s *schema) isList(key string) bool { return s.fields[key].typ.Kind() == reflect.Slice }

// javaDouble formats like Java's Double.toString, which is what Kafka clients display: "0.5", "1.0",
// "1.7976931348623157E308".
func javaDouble(f float64) string {
	if a := math.Abs(f); a != 0 && (a < 1e-3 || a >= 1e7) {
		m, e, _ := strings.Cut(strconv.FormatFloat(f, 'E', -1, 64), "E")
		if !strings.Contains(m, ".") {
			m += ".0"
		}
		exp, _ := strconv.Atoi(e)
		return m + "E" + strconv.Itoa(exp)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}
