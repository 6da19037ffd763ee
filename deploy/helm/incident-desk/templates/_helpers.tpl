{{- define "incident-desk.fullname" -}}
{{ .Release.Name }}
{{- end }}

{{- define "incident-desk.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "incident-desk.labels" -}}
app.kubernetes.io/name: incident-desk
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
