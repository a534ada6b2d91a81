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
ClusterRole (all namespaces) or into one Role per watched namespace. Exactly
what the operator uses, no wildcard, each rule says why it exists:
tests/integration/test_operator_rbac.py records every request the running
operator makes and fails on a grant it never uses, unless that test's list of
necessary extras explains it. WebhookSubscriptions have a CRD but no handler
yet: their rules come with it.
*/}}
{{- define "wafleet.namespacedRules" -}}
# Its own custom resource: kopf lists and watches it and patches it (its
# finalizer, its progress annotations); the operator reads one when a child
# names it. Runners are granted get/watch on their own
# account, which the operator may only grant because it holds them.
- apiGroups: ["wafleet.io"]
  resources: ["whatsappaccounts"]
  verbs: ["get", "list", "watch", "patch"]
# The operator patches phase, conditions and observedGeneration in status;
# runners are granted get/patch on their own account's status.
- apiGroups: ["wafleet.io"]
  resources: ["whatsappaccounts/status"]
  verbs: ["get", "patch"]
# Children carry ownerReferences with blockOwnerDeletion: true, which the
# OwnerReferencesPermissionEnforcement admission plugin only allows to whoever
# may update the owner's finalizers.
- apiGroups: ["wafleet.io"]
  resources: ["whatsappaccounts/finalizers"]
  verbs: ["update"]
# Each account's children are server-side applied (patch; the API server also
# asks for create when an apply creates the object) and watched for drift.
# Nothing deletes them but garbage collection, through their ownerReferences.
# The StatefulSet (the runner) is also read for its ready replicas, and
# scaled to 0 (an apply) before an account's snapshots are deleted.
- apiGroups: ["apps"]
  resources: ["statefulsets"]
  verbs: ["get", "list", "watch", "create", "patch"]
# The headless Service and the runner's ServiceAccount.
- apiGroups: [""]
  resources: ["services", "serviceaccounts"]
  verbs: ["list", "watch", "create", "patch"]
# The runner's Role (leases get/update/patch, whatsappaccounts get/watch,
# whatsappaccounts/status get/patch, events create) and its binding.
# Kubernetes only lets the operator grant what it holds itself, which the
# other rules cover; no escalate or bind verbs.
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["list", "watch", "create", "patch"]
# The operator creates and owns each account's Lease (the runner only renews
# it) and reads holder and leaseTransitions (the fencing token) for status.
# update is never used by the operator: runners are granted it on their own
# Lease (a claim is an update conditional on resourceVersion).
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "list", "watch", "create", "patch", "update"]
# Read-only, by name: the Secrets an account references (credentials,
# encryption key) are read to check that they exist and hold the named keys,
# and the credentials Secret for deleting snapshots (deletionPolicy: Delete).
# No list or watch: the operator never sees Secrets no account names. An
# account waiting for a Secret is re-checked every few seconds instead.
# Watching all namespaces this is a ClusterRole rule (get in every
# namespace); set watchNamespaces to confine it to those namespaces.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
# Read-only, by name: on deletion with deletionPolicy Delete the operator
# waits until the runner pod (waa-<name>-0) is gone, so its final snapshot
# has landed before the snapshots are deleted.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get"]
# SenderPools, as accounts: kopf lists, watches and patches them (finalizer,
# progress annotations); the operator lists every pool to find the one that
# routes a target first and writes their status. No get: the operator reads
# pools only from its watch and that list, and each pool's senders get no
# Kubernetes permissions at all (they never call the API server), so there is
# nothing of the pools' to grant them.
- apiGroups: ["wafleet.io"]
  resources: ["senderpools"]
  verbs: ["list", "watch", "patch"]
- apiGroups: ["wafleet.io"]
  resources: ["senderpools/status"]
  verbs: ["patch"]
- apiGroups: ["wafleet.io"]
  resources: ["senderpools/finalizers"]
  verbs: ["update"]
# Each pool's senders (a Deployment) and their disruption budget, server-side
# applied; garbage collection deletes them with the pool.
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["create", "patch"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["create", "patch"]
# A pool with spec.scaling.provider keda gets a KEDA ScaledObject; switched
# back to the operator's scaler, the ScaledObject is deleted.
- apiGroups: ["keda.sh"]
  resources: ["scaledobjects"]
  verbs: ["create", "patch", "delete"]
# kopf and the operator post core/v1 Events about accounts (kopf never
# patches them); runners are granted the same.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}
