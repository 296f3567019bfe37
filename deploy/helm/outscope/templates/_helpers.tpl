{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "outscope.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release fullname: <release>-<chart> unless the release name already holds it. */}}
{{- define "outscope.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "outscope.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "outscope.selectorLabels" -}}
app.kubernetes.io/name: {{ include "outscope.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "outscope.labels" -}}
helm.sh/chart: {{ include "outscope.chart" . }}
{{ include "outscope.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: outscope
{{- end }}

{{- define "outscope.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "outscope.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "outscope.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{- define "outscope.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "outscope.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{/*
The configuration file, rendered. Refuses a config whose admin listener is not on
ports.admin: the probes, the admin Service and the ServiceMonitor all point there.
*/}}
{{- define "outscope.config" -}}
{{- $config := tpl .Values.config . }}
{{- if not (regexMatch (printf "(?m)^\\s*address\\s*=\\s*\"[^\"]*:%d\"" (int .Values.ports.admin)) $config) }}
{{- fail (printf "config: no address on ports.admin (%d); the [admin] address must use it, e.g. \"0.0.0.0:%d\"" (int .Values.ports.admin) (int .Values.ports.admin)) }}
{{- end }}
{{- $config }}
{{- end }}

{{/* The grace period the kubelet gives a terminating pod: preStop + drain + margin. */}}
{{- define "outscope.terminationGracePeriodSeconds" -}}
{{- $s := .Values.shutdown }}
{{- add (int $s.preStopSleepSeconds) (int $s.drainDelaySeconds) (int $s.drainTimeoutSeconds) (int $s.extraGraceSeconds) }}
{{- end }}
