{{/* The chart's name, or nameOverride. */}}
{{- define "meterline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: <release>-meterline unless the release name holds it. */}}
{{- define "meterline.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the credentials. */}}
{{- define "meterline.secretName" -}}
{{- if .Values.secrets.create -}}{{ include "meterline.fullname" . }}{{- else -}}{{ required "secrets.existingSecret is required when secrets.create is false" .Values.secrets.existingSecret }}{{- end -}}
{{- end -}}

{{/* The image, pinned: a digest, or a version tag (latest refused). */}}
{{- define "meterline.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if eq $tag "latest" -}}{{ fail "image.tag: latest is not a pinned version; give a version tag or image.digest" }}{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Labels common to every object. */}}
{{- define "meterline.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "meterline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: meterline
{{- end -}}

{{/* Pod selector labels of component .component (root context in .root). */}}
{{- define "meterline.selector" -}}
app.kubernetes.io/name: {{ include "meterline.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
The settings that are credentials: never given in config or env, only through the Secret.
*/}}
{{- define "meterline.secretSettings" -}}
METERLINE_CLICKHOUSE_PASSWORD METERLINE_AUTH_ADMIN_KEYS METERLINE_NOVA_TOKEN METERLINE_NOVA_PASSWORD METERLINE_NOVA_APPLICATION_CREDENTIAL_SECRET METERLINE_CF_TOKEN METERLINE_CF_CLIENT_SECRET METERLINE_ELASTICBOX_TOKEN METERLINE_VCLOUDAIR_PASSWORD METERLINE_VCLOUDAIR_TOKEN
{{- end -}}

{{/* The settings the chart sets itself. */}}
{{- define "meterline.chartSettings" -}}
METERLINE_HTTP_ADDR METERLINE_KAFKA_BROKERS METERLINE_CLICKHOUSE_ADDR METERLINE_CLICKHOUSE_DATABASE METERLINE_CLICKHOUSE_USER METERLINE_PROCESSOR_ID
{{- end -}}

{{/*
The env list of a container: the chart's settings, config merged with the component's env
(the component's win), then the Secret's keys. .root is the root context, .component the
component's name, .c its values.
*/}}
{{- define "meterline.env" -}}
{{- $root := .root -}}
{{- $secretSettings := splitList " " (include "meterline.secretSettings" $root) -}}
{{- $chartSettings := splitList " " (include "meterline.chartSettings" $root) -}}
{{- $settings := mergeOverwrite (deepCopy ($root.Values.config | default dict)) (.c.env | default dict) -}}
- name: METERLINE_HTTP_ADDR
  value: {{ printf "0.0.0.0:%v" $root.Values.port | quote }}
- name: METERLINE_KAFKA_BROKERS
  value: {{ required "kafka.brokers is required" $root.Values.kafka.brokers | join "," | quote }}
- name: METERLINE_CLICKHOUSE_ADDR
  value: {{ required "clickhouse.addr is required" $root.Values.clickhouse.addr | quote }}
- name: METERLINE_CLICKHOUSE_DATABASE
  value: {{ $root.Values.clickhouse.database | quote }}
- name: METERLINE_CLICKHOUSE_USER
  value: {{ $root.Values.clickhouse.user | quote }}
{{- if eq .component "processor" }}
# The pod's name (<fullname>-processor-N): unique per instance, stable across its restarts.
- name: METERLINE_PROCESSOR_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- end }}
{{- range $name, $value := $settings }}
{{- if not (hasPrefix "METERLINE_" $name) }}
{{- fail (printf "%s: settings are named METERLINE_* (see `meterline --help`)" $name) }}
{{- end }}
{{- if has $name $secretSettings }}
{{- fail (printf "%s is a credential: put it in secrets.values (or secrets.existingSecret), not in config or env" $name) }}
{{- end }}
{{- if has $name $chartSettings }}
{{- fail (printf "%s is set by the chart (port, kafka, clickhouse values); do not give it in config or env" $name) }}
{{- end }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- range $name := concat $root.Values.secrets.common (.c.secretEnv | default list) | uniq }}
{{- if not (has $name $secretSettings) }}
{{- fail (printf "%s is not a credential setting; give it in config or env" $name) }}
{{- end }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "meterline.secretName" $root }}
      key: {{ $name }}
      optional: true
{{- end }}
{{- end -}}

{{/* The pod template of component .component with values .c and arguments .args. */}}
{{- define "meterline.pod" -}}
{{- $root := .root -}}
metadata:
  labels:
    {{- include "meterline.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
    {{- with $root.Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    # A change of the credentials restarts the pods.
    checksum/secret: {{ toYaml $root.Values.secrets | sha256sum }}
    {{- with $root.Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  containers:
    - name: {{ .component }}
      image: {{ include "meterline.image" $root | quote }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args:
        {{- toYaml .args | nindent 8 }}
      ports:
        - name: http
          containerPort: {{ $root.Values.port }}
          protocol: TCP
      env:
        {{- include "meterline.env" . | nindent 8 }}
      startupProbe:
        httpGet: {path: /healthz, port: http}
        {{- toYaml $root.Values.probes.startup | nindent 8 }}
      livenessProbe:
        httpGet: {path: /healthz, port: http}
        {{- toYaml $root.Values.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet: {path: /readyz, port: http}
        {{- toYaml $root.Values.probes.readiness | nindent 8 }}
      resources:
        {{- toYaml (.c.resources | default dict) | nindent 8 }}
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir: {}
  {{- with $root.Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $root.Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $root.Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/*
The components to run, as a dict name -> {c: values, args: [...], kind, poller}: the enabled
services and the enabled pollers.
*/}}
{{- define "meterline.components" -}}
{{- $out := dict -}}
{{- range $name := list "collector" "sink" "processor" "reporting" "provisioning" -}}
{{- $c := index $.Values.services $name -}}
{{- if $c.enabled -}}
{{- $_ := set $out $name (dict "c" $c "args" (list $name) "kind" (ternary "StatefulSet" "Deployment" (eq $name "processor")) "poller" false) -}}
{{- end -}}
{{- end -}}
{{- range $name, $c := .Values.pollers -}}
{{- if $c.enabled -}}
{{- $_ := set $out (printf "poller-%s" $name) (dict "c" $c "args" (list "poller" $name) "kind" "Deployment" "poller" true) -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}
