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
- --operator-service
- {{ include "igw.fullname" . | quote }}
{{- if gt (int .Values.replicaCount) 1 }}
- --peer-listen
- "tcp://$(POD_IP):{{ .Values.ports.peerSync }}"
{{- end }}
{{- range $flag, $value := .Values.edgeLimits }}
- --{{ $flag }}
- {{ $value | quote }}
{{- end }}
{{- if .Values.proxyAccessLog }}
- --envoy-access-log
- "-"
{{- end }}
{{- with .Values.proxyDefaults }}
- --proxy-defaults
- {{ toJson . | quote }}
{{- end }}
{{- if eq .Values.rbac.scope "namespace" }}
{{- range (include "igw.watchNamespaces" . | fromYamlArray) }}
- --watch-namespace
- {{ . | quote }}
{{- end }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* Namespaces a namespace-scoped operator watches (default: the release's own). */}}
{{- define "igw.watchNamespaces" -}}
{{- toYaml (default (list .Release.Namespace) .Values.watchNamespaces) -}}
{{- end -}}

{{/* The rules of namespaced resources: a ClusterRole's, or each watched namespace's Role. */}}
{{- define "igw.namespacedRules" -}}
# Our API: read, write status. (Kopf only watches: no finalizers, no annotations.)
- apiGroups: [inference.networking.x-k8s.io]
  resources: [inferencepools, inferencemodels, inferenceobjectives, inferencemodelrewrites]
  verbs: [get, list, watch, patch]
- apiGroups: [inference.networking.x-k8s.io]
  resources: [inferencepools/status, inferencemodels/status, inferenceobjectives/status, inferencemodelrewrites/status]
  verbs: [get, patch, update]
# The Inference Extension's GA API (v1 InferencePool).
- apiGroups: [inference.networking.k8s.io]
  resources: [inferencepools]
  verbs: [get, list, watch, patch]
- apiGroups: [inference.networking.k8s.io]
  resources: [inferencepools/status]
  verbs: [get, patch, update]
- apiGroups: [inferenceextension.alibabacloud.com]
  resources: [inferencetrafficpolicies, gatewayparameters]
  verbs: [get, list, watch, patch]
- apiGroups: [inferenceextension.alibabacloud.com]
  resources: [inferencetrafficpolicies/status]
  verbs: [get, patch, update]
# Gateway API objects this gateway implements.
- apiGroups: [gateway.networking.k8s.io]
  resources: [gateways, httproutes]
  verbs: [get, list, watch, patch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [gateways/status, httproutes/status]
  verbs: [get, patch, update]
# Model-server pods of the pools (addresses, readiness, role labels).
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
# Envoy proxies provisioned per Gateway (and their autoscalers).
- apiGroups: [""]
  resources: [services, configmaps]
  verbs: [create, get, list, watch, patch, update, delete]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [create, get, list, watch, patch, update, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [create, get, list, watch, patch, update, delete]
# Events about the objects handled.
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
