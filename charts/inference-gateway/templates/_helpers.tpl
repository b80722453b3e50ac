{{/* Name of the Deployment and Service (the seed's InferencePools and docs use this one). */}}
{{- define "igw.fullname" -}}
{{- default "inference-gateway-ext-proc" .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "igw.selectorLabels" -}}
app.kubernetes.io/name: inference-gateway
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: ext-proc
{{- end -}}

{{- define "igw.labels" -}}
{{ include "igw.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "igw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "igw.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "igw.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end -}}
{{- end -}}

{{/* `igw run` arguments: .Values.args verbatim, else generated from .Values.ports. */}}
{{- define "igw.args" -}}
{{- if .Values.args -}}
{{ toYaml .Values.args }}
{{- else -}}
- run
- --router-host
- "0.0.0.0"
- --ext-proc-port
- {{ .Values.ports.extProc | quote }}
- --health-port
- {{ .Values.ports.health | quote }}
- --metrics-port
- {{ .Values.ports.metrics | quote }}
- --xds-port
- {{ .Values.ports.xds | quote }}
{{- with .Values.endpointPicker.pool }}
- --pool
- {{ if contains "/" . }}{{ . | quote }}{{ else }}{{ printf "%s/%s" $.Release.Namespace . | quote }}{{ end }}
{{- end }}
{{- range $flag, $value := .Values.endpointPicker.flags }}
- {{ printf "--%s" $flag | quote }}
- {{ $value | quote }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}
{{- end -}}
