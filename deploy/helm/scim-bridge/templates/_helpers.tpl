{{- define "scim-bridge.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "scim-bridge.labels" -}}
app.kubernetes.io/name: scim-bridge
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "scim-bridge.selector" -}}
app.kubernetes.io/name: scim-bridge
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "scim-bridge.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "scim-bridge.name" .) -}}
{{- end -}}

{{- define "scim-bridge.probeScheme" -}}
{{- if and .Values.tls.secretName .Values.tls.admin }}HTTPS{{ else }}HTTP{{ end -}}
{{- end -}}
