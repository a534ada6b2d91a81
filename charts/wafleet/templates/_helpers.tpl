{{/*
Chart name, overridable with nameOverride.
*/}}
{{- define "wafleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Full name used as the prefix of every resource name. The release name alone
when it already contains the chart name (release "wafleet" -> "wafleet").
*/}}
{{- define "wafleet.fullname" -}}
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

{{/*
name-version, for the helm.sh/chart label.
*/}}
{{- define "wafleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels of every object of the release (also used by the CRD templates).
*/}}
{{- define "wafleet.labels" -}}
helm.sh/chart: {{ include "wafleet.chart" . }}
{{ include "wafleet.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: wafleet
{{- end -}}

{{/*
Selector labels: stable across upgrades (never add the version here).
*/}}
{{- define "wafleet.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wafleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Selector labels of the operator's pods: the release's selector labels plus the
component, so they never match pods the operator itself creates.
*/}}
{{- define "wafleet.operatorSelectorLabels" -}}
{{ include "wafleet.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{/*
Labels of the operator's own objects (Deployment, Service, PDB ...).
*/}}
{{- define "wafleet.operatorLabels" -}}
{{ include "wafleet.labels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{/*
The operator's ServiceAccount name.
*/}}
{{- define "wafleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "wafleet.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Operator and runner images: <repository>:<tag or appVersion>.
*/}}
{{- define "wafleet.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "wafleet.runnerImage" -}}
{{- printf "%s:%s" .Values.runnerImage.repository (.Values.runnerImage.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
"true" when the operator watches every namespace (watchNamespaces is empty).
*/}}
{{- define "wafleet.clusterWide" -}}
{{- if not .Values.watchNamespaces -}}true{{- end -}}
{{- end -}}

{{/*
kopf peering name, set only when more than one replica runs.
*/}}
{{- define "wafleet.peeringName" -}}
{{- if gt (int .Values.replicaCount) 1 -}}{{ include "wafleet.fullname" . }}{{- end -}}
{{- end -}}

{{/*
The rules the operator needs in every namespace it serves; rendered into the
ClusterRole (all namespaces) or into one Role per watched namespace. Least
privilege: no wildcard, each rule says why it exists.
*/}}
{{- define "wafleet.namespacedRules" -}}
# Its own custom resources: kopf lists and watches them, patches them to add
# its finalizer and its progress annotations; update for replace-style writes.
- apiGroups: ["wafleet.io"]
  resources: ["whatsappaccounts", "senderpools", "webhooksubscriptions"]
  verbs: ["get", "list", "watch", "patch", "update"]
# The operator owns phase, conditions and observedGeneration in status.
- apiGroups: ["wafleet.io"]
  resources: ["whatsappaccounts/status", "senderpools/status", "webhooksubscriptions/status"]
  verbs: ["get", "patch", "update"]
# Children carry ownerReferences with blockOwnerDeletion: true, which the
# OwnerReferencesPermissionEnforcement admission plugin only allows to whoever
# may update the owner's finalizers.
- apiGroups: ["wafleet.io"]
  resources: ["whatsappaccounts/finalizers", "senderpools/finalizers"]
  verbs: ["update"]
# One StatefulSet per account (the runner) and one Deployment per SenderPool
# (senders, whose replicas the operator scales from the queue depth).
- apiGroups: ["apps"]
  resources: ["statefulsets", "deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# Per-account headless Service, runner ServiceAccount and runner ConfigMap.
- apiGroups: [""]
  resources: ["services", "serviceaccounts", "configmaps"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# Read-only: checks that the Secrets a resource references (credentials,
# encryption key, webhook signing secret) exist. Never creates or changes one.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
# The operator creates and owns each account's Lease (the runner only renews
# it); it reads holder and leaseTransitions (the fencing token) for status.
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# The runner's Role (leases get/update, whatsappaccounts/status get/patch) and
# its binding. Kubernetes only lets the operator grant what it holds itself,
# which the rules above cover; no escalate or bind verbs.
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["get", "list", "watch", "create", "patch", "update", "delete"]
# kopf posts Kubernetes events about the objects it handles.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}
