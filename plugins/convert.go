package plugins

// Converters between the contract types and their protobuf forms. Proto
// types never leave this package. Slices and maps travel in one-field list
// messages so that nil and empty survive the trip (see plugin.proto).

import (
	"github.com/memscope/memscope/intervention"
	pb "github.com/memscope/memscope/plugins/proto/memscope/plugin/v1"
)

// ---------------------------------------------------------------- lists

func toInt32List(v []int32) *pb.Int32List {
	if v == nil {
		return nil
	}
	return &pb.Int32List{Values: v}
}

func fromInt32List(l *pb.Int32List) []int32 {
	if l == nil {
		return nil
	}
	if l.Values == nil {
		return []int32{}
	}
	return l.Values
}

func toInt64List(v []int) *pb.Int64List {
	if v == nil {
		return nil
	}
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return &pb.Int64List{Values: out}
}

func fromInt64List(l *pb.Int64List) []int {
	if l == nil {
		return nil
	}
	out := make([]int, len(l.Values))
	for i, x := range l.Values {
		out[i] = int(x)
	}
	return out
}

func toFloatList(v []float32) *pb.FloatList {
	if v == nil {
		return nil
	}
	return &pb.FloatList{Values: v}
}

func fromFloatList(l *pb.FloatList) []float32 {
	if l == nil {
		return nil
	}
	if l.Values == nil {
		return []float32{}
	}
	return l.Values
}

func toDoubleList(v []float64) *pb.DoubleList {
	if v == nil {
		return nil
	}
	return &pb.DoubleList{Values: v}
}

func fromDoubleList(l *pb.DoubleList) []float64 {
	if l == nil {
		return nil
	}
	if l.Values == nil {
		return []float64{}
	}
	return l.Values
}

func toBoolList(v []bool) *pb.BoolList {
	if v == nil {
		return nil
	}
	return &pb.BoolList{Values: v}
}

func fromBoolList(l *pb.BoolList) []bool {
	if l == nil {
		return nil
	}
	if l.Values == nil {
		return []bool{}
	}
	return l.Values
}

func toStringList(v []string) *pb.StringList {
	if v == nil {
		return nil
	}
	return &pb.StringList{Values: v}
}

func fromStringList(l *pb.StringList) []string {
	if l == nil {
		return nil
	}
	if l.Values == nil {
		return []string{}
	}
	return l.Values
}

func toDoubleMap(m map[string]float64) *pb.DoubleMap {
	if m == nil {
		return nil
	}
	return &pb.DoubleMap{Values: m}
}

func fromDoubleMap(m *pb.DoubleMap) map[string]float64 {
	if m == nil {
		return nil
	}
	if m.Values == nil {
		return map[string]float64{}
	}
	return m.Values
}

func toStringMap(m map[string]string) *pb.StringMap {
	if m == nil {
		return nil
	}
	return &pb.StringMap{Values: m}
}

func fromStringMap(m *pb.StringMap) map[string]string {
	if m == nil {
		return nil
	}
	if m.Values == nil {
		return map[string]string{}
	}
	return m.Values
}

func listInfo(n int, isNil bool) *pb.ListInfo { return &pb.ListInfo{Len: int64(n), Nil: isNil} }

// ---------------------------------------------------------------- backend

func toIntervention(iv intervention.Intervention) *pb.Intervention {
	return &pb.Intervention{Kind: string(iv.Kind), Blocks: toInt64List(iv.Blocks)}
}

func fromIntervention(p *pb.Intervention) intervention.Intervention {
	if p == nil {
		return intervention.Intervention{}
	}
	return intervention.Intervention{Kind: intervention.Kind(p.Kind), Blocks: fromInt64List(p.Blocks)}
}

func toCapabilities(c Capabilities) *pb.BackendCapabilities {
	var kinds []string
	if c.InterventionKinds != nil {
		kinds = make([]string, len(c.InterventionKinds))
		for i, k := range c.InterventionKinds {
			kinds[i] = string(k)
		}
	}
	out := &pb.BackendCapabilities{
		Name:              c.Name,
		Version:           c.Version,
		Architectures:     toStringList(c.Architectures),
		Dtypes:            toStringList(c.DTypes),
		InterventionKinds: toStringList(kinds),
		Compute:           c.Compute,
		Unavailable:       c.Unavailable,
	}
	if c.Model != nil {
		out.Model = toModelInfo(*c.Model)
	}
	return out
}

func fromCapabilities(p *pb.BackendCapabilities) Capabilities {
	c := Capabilities{
		Name:          p.GetName(),
		Version:       p.GetVersion(),
		Architectures: fromStringList(p.GetArchitectures()),
		DTypes:        fromStringList(p.GetDtypes()),
		Compute:       p.GetCompute(),
		Unavailable:   p.GetUnavailable(),
	}
	if kinds := fromStringList(p.GetInterventionKinds()); kinds != nil {
		c.InterventionKinds = make([]intervention.Kind, len(kinds))
		for i, k := range kinds {
			c.InterventionKinds[i] = intervention.Kind(k)
		}
	}
	if p.GetModel() != nil {
		m := fromModelInfo(p.GetModel())
		c.Model = &m
	}
	return c
}

func toLoadRequest(r LoadRequest) *pb.LoadRequest {
	return &pb.LoadRequest{ModelDir: r.ModelDir, Dtype: r.DType, Threads: int64(r.Threads), BatchSize: int64(r.BatchSize),
		AllowNonfiniteWeights: r.AllowNonFiniteWeights}
}

func fromLoadRequest(p *pb.LoadRequest) LoadRequest {
	return LoadRequest{ModelDir: p.GetModelDir(), DType: p.GetDtype(), Threads: int(p.GetThreads()), BatchSize: int(p.GetBatchSize()),
		AllowNonFiniteWeights: p.GetAllowNonfiniteWeights()}
}

func toModelInfo(m ModelInfo) *pb.ModelInfo {
	return &pb.ModelInfo{
		Architecture:   m.Architecture,
		ModelType:      m.ModelType,
		NumLayers:      int64(m.NumLayers),
		HiddenSize:     int64(m.HiddenSize),
		VocabSize:      int64(m.VocabSize),
		MaxPositions:   int64(m.MaxPositions),
		EotTokenId:     m.EOTTokenID,
		Dtype:          m.DType,
		Parameters:     m.Parameters,
		TokenizerError: m.TokenizerError,
	}
}

func fromModelInfo(p *pb.ModelInfo) ModelInfo {
	return ModelInfo{
		Architecture:   p.GetArchitecture(),
		ModelType:      p.GetModelType(),
		NumLayers:      int(p.GetNumLayers()),
		HiddenSize:     int(p.GetHiddenSize()),
		VocabSize:      int(p.GetVocabSize()),
		MaxPositions:   int(p.GetMaxPositions()),
		EOTTokenID:     p.GetEotTokenId(),
		DType:          p.GetDtype(),
		Parameters:     p.GetParameters(),
		TokenizerError: p.GetTokenizerError(),
	}
}

func toLLRequest(r LoglikelihoodRequest) *pb.LoglikelihoodRequest {
	return &pb.LoglikelihoodRequest{Context: []byte(r.Context), Continuation: []byte(r.Continuation)}
}

func fromLLRequest(p *pb.LoglikelihoodRequest) LoglikelihoodRequest {
	return LoglikelihoodRequest{Context: string(p.GetContext()), Continuation: string(p.GetContinuation())}
}

func toLLResult(r LoglikelihoodResult) *pb.LoglikelihoodResult {
	return &pb.LoglikelihoodResult{
		LogLikelihood:      r.LogLikelihood,
		IsGreedy:           r.IsGreedy,
		ContextTokens:      int64(r.ContextTokens),
		ContinuationTokens: int64(r.ContinuationTokens),
		NonFinite:          r.NonFinite,
	}
}

func fromLLResult(p *pb.LoglikelihoodResult) LoglikelihoodResult {
	return LoglikelihoodResult{
		LogLikelihood:      p.GetLogLikelihood(),
		IsGreedy:           p.GetIsGreedy(),
		ContextTokens:      int(p.GetContextTokens()),
		ContinuationTokens: int(p.GetContinuationTokens()),
		NonFinite:          p.GetNonFinite(),
	}
}

func toRollingRequest(r RollingRequest) *pb.RollingRequest {
	return &pb.RollingRequest{Text: []byte(r.Text), Ids: toInt32List(r.IDs), ContextLen: int64(r.ContextLen)}
}

func fromRollingRequest(p *pb.RollingRequest) RollingRequest {
	return RollingRequest{Text: string(p.GetText()), IDs: fromInt32List(p.GetIds()), ContextLen: int(p.GetContextLen())}
}

func toRollingResult(r RollingResult) *pb.RollingResult {
	return &pb.RollingResult{
		LogLikelihood: r.LogLikelihood,
		LogProbs:      toFloatList(r.LogProbs),
		Entropies:     toFloatList(r.Entropies),
		Greedy:        toBoolList(r.Greedy),
		NonFinite:     r.NonFinite,
	}
}

func fromRollingResult(p *pb.RollingResult) RollingResult {
	return RollingResult{
		LogLikelihood: p.GetLogLikelihood(),
		LogProbs:      fromFloatList(p.GetLogProbs()),
		Entropies:     fromFloatList(p.GetEntropies()),
		Greedy:        fromBoolList(p.GetGreedy()),
		NonFinite:     p.GetNonFinite(),
	}
}

func toGenerateRequest(r GenerateRequest) *pb.GenerateRequest {
	return &pb.GenerateRequest{Prefix: toInt32List(r.Prefix), NewTokens: int64(r.NewTokens), SuppressEos: r.SuppressEOS}
}

func fromGenerateRequest(p *pb.GenerateRequest) GenerateRequest {
	return GenerateRequest{Prefix: fromInt32List(p.GetPrefix()), NewTokens: int(p.GetNewTokens()), SuppressEOS: p.GetSuppressEos()}
}

func toGenerateResult(r GenerateResult) *pb.GenerateResult {
	return &pb.GenerateResult{Ids: toInt32List(r.IDs), Entropies: toFloatList(r.Entropies), NonFinite: r.NonFinite}
}

func fromGenerateResult(p *pb.GenerateResult) GenerateResult {
	return GenerateResult{IDs: fromInt32List(p.GetIds()), Entropies: fromFloatList(p.GetEntropies()), NonFinite: p.GetNonFinite()}
}

// ---------------------------------------------------------------- task

func toTaskInfo(t TaskInfo) *pb.TaskInfo {
	out := &pb.TaskInfo{
		Name:        t.Name,
		Version:     t.Version,
		OutputType:  t.OutputType,
		Category:    t.Category,
		DataFiles:   toStringList(t.DataFiles),
		Description: t.Description,
	}
	if t.Metrics != nil {
		out.Metrics = &pb.MetricInfoList{Values: make([]*pb.MetricInfo, len(t.Metrics))}
		for i, m := range t.Metrics {
			out.Metrics.Values[i] = &pb.MetricInfo{Name: m.Name, HigherIsBetter: m.HigherIsBetter, PerDoc: m.PerDoc}
		}
	}
	if t.Options != nil {
		out.Options = &pb.OptionInfoList{Values: make([]*pb.OptionInfo, len(t.Options))}
		for i, o := range t.Options {
			out.Options.Values[i] = &pb.OptionInfo{Name: o.Name, Default: o.Default, Help: o.Help}
		}
	}
	return out
}

func fromTaskInfo(p *pb.TaskInfo) TaskInfo {
	t := TaskInfo{
		Name:        p.GetName(),
		Version:     p.GetVersion(),
		OutputType:  p.GetOutputType(),
		Category:    p.GetCategory(),
		DataFiles:   fromStringList(p.GetDataFiles()),
		Description: p.GetDescription(),
	}
	if l := p.GetMetrics(); l != nil {
		t.Metrics = make([]MetricInfo, len(l.Values))
		for i, m := range l.Values {
			t.Metrics[i] = MetricInfo{Name: m.GetName(), HigherIsBetter: m.GetHigherIsBetter(), PerDoc: m.GetPerDoc()}
		}
	}
	if l := p.GetOptions(); l != nil {
		t.Options = make([]OptionInfo, len(l.Values))
		for i, o := range l.Values {
			t.Options[i] = OptionInfo{Name: o.GetName(), Default: o.GetDefault(), Help: o.GetHelp()}
		}
	}
	return t
}

func toTaskOptions(o TaskOptions) *pb.TaskOptions {
	out := &pb.TaskOptions{Limit: int64(o.Limit), Seed: o.Seed, Options: toStringMap(o.Options)}
	if o.Docs != nil {
		out.Docs = &pb.DocRangeList{Values: make([]*pb.DocRange, len(o.Docs))}
		for i, d := range o.Docs {
			out.Docs.Values[i] = &pb.DocRange{First: int64(d.First), Last: int64(d.Last)}
		}
	}
	return out
}

func fromTaskOptions(p *pb.TaskOptions) TaskOptions {
	o := TaskOptions{Limit: int(p.GetLimit()), Seed: p.GetSeed(), Options: fromStringMap(p.GetOptions())}
	if l := p.GetDocs(); l != nil {
		o.Docs = make([]DocRange, len(l.Values))
		for i, d := range l.Values {
			o.Docs[i] = DocRange{First: int(d.GetFirst()), Last: int(d.GetLast())}
		}
	}
	return o
}

func toRequest(r Request) *pb.Request {
	out := &pb.Request{DocIndex: int64(r.DocIndex), Index: int64(r.Index)}
	if r.Loglikelihood != nil {
		out.Loglikelihood = toLLRequest(*r.Loglikelihood)
	}
	if r.Rolling != nil {
		out.Rolling = toRollingRequest(*r.Rolling)
	}
	if r.Generate != nil {
		out.Generate = toGenerateRequest(*r.Generate)
	}
	return out
}

func fromRequest(p *pb.Request) Request {
	r := Request{DocIndex: int(p.GetDocIndex()), Index: int(p.GetIndex())}
	if p.GetLoglikelihood() != nil {
		v := fromLLRequest(p.GetLoglikelihood())
		r.Loglikelihood = &v
	}
	if p.GetRolling() != nil {
		v := fromRollingRequest(p.GetRolling())
		r.Rolling = &v
	}
	if p.GetGenerate() != nil {
		v := fromGenerateRequest(p.GetGenerate())
		r.Generate = &v
	}
	return r
}

func toResponse(r Response) *pb.Response {
	out := &pb.Response{}
	if r.Loglikelihood != nil {
		out.Loglikelihood = toLLResult(*r.Loglikelihood)
	}
	if r.Rolling != nil {
		out.Rolling = toRollingResult(*r.Rolling)
	}
	if r.Generate != nil {
		out.Generate = toGenerateResult(*r.Generate)
	}
	return out
}

func fromResponse(p *pb.Response) Response {
	var r Response
	if p.GetLoglikelihood() != nil {
		v := fromLLResult(p.GetLoglikelihood())
		r.Loglikelihood = &v
	}
	if p.GetRolling() != nil {
		v := fromRollingResult(p.GetRolling())
		r.Rolling = &v
	}
	if p.GetGenerate() != nil {
		v := fromGenerateResult(p.GetGenerate())
		r.Generate = &v
	}
	return r
}

func toDocScore(d DocScore) *pb.DocScore {
	return &pb.DocScore{
		DocIndex:             int64(d.DocIndex),
		Gold:                 int64(d.Gold),
		Prediction:           int64(d.Prediction),
		ChoiceLogLikelihoods: toDoubleList(d.ChoiceLogLikelihoods),
		Metrics:              toDoubleMap(d.Metrics),
	}
}

func fromDocScore(p *pb.DocScore) DocScore {
	return DocScore{
		DocIndex:             int(p.GetDocIndex()),
		Gold:                 int(p.GetGold()),
		Prediction:           int(p.GetPrediction()),
		ChoiceLogLikelihoods: fromDoubleList(p.GetChoiceLogLikelihoods()),
		Metrics:              fromDoubleMap(p.GetMetrics()),
	}
}

func toMetricValue(m MetricValue) *pb.MetricValue {
	return &pb.MetricValue{Name: m.Name, Value: m.Value, Stderr: m.Stderr, N: int64(m.N), HigherIsBetter: m.HigherIsBetter}
}

func fromMetricValue(p *pb.MetricValue) MetricValue {
	return MetricValue{Name: p.GetName(), Value: p.GetValue(), Stderr: p.GetStderr(), N: int(p.GetN()), HigherIsBetter: p.GetHigherIsBetter()}
}
