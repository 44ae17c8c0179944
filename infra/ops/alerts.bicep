// Alerts on the run events (shared/run_events.py), e-mailed through one action group.
// main.bicep deploys this module only when at least one address is given: an alert rule
// without receivers would fire into the portal's Alerts page only, which nobody watches, and
// log search alert rules are billed per rule and per monitored time series; the workbook
// (ops/workbook.bicep) shows the same conditions without cost.
//
// Each rule is a log search alert over the Log Analytics table AppEvents (custom events of
// the workspace-based Application Insights component), with one query file in queries/ that
// returns ONE row per export: the rule is split by export (dimensions export_id and
// export_name), so each export has its own alert that fires when its condition starts and,
// with autoMitigate, resolves when it clears: one e-mail at each change, not one per run
// ("Automatically resolve alerts",
// https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-create-log-alert-rule).
//
// Limits that shape the rules (same page):
// - a query reads at most two days of data, so windowSize is P2D (the query range) and
//   "N days without success" travels inside the timer's SnapAudienceSchedule event;
// - stateful (auto-resolving) rules must be evaluated at least every 12 hours: every hour
//   here, so an alert resolves about two hours after its condition cleared;
// - an alert also resolves when the export has had no event for two days (nothing left to
//   evaluate): the workbook keeps the history.
//
// skipQueryValidation: the AppEvents table has no rows until the app has sent its first
// custom event, and a new workspace may not resolve the table yet; validation at creation
// would fail the first deployment. The queries are checked offline instead
// (tests/test_infra_ops.py: every Properties.<field> they read is a field of the event).
//
// The rules have no managed identity: they run their queries with the permissions of whoever
// last deployed or edited them (that account needs read access to the workspace; redeploy
// from a pipeline identity if it goes away).

@description('Azure region of the alert rules (the action group is global).')
param location string

@description('Tags applied to every resource.')
param tags object = {}

@description('Prefix of the rule and action group names.')
param namePrefix string

@description('Log Analytics workspace holding AppEvents (the scope of every rule).')
param logAnalyticsName string

@description('E-mail addresses that receive every alert (at least one).')
@minLength(1)
param emailAddresses array

@description('Alert when the share of a run\'s rows with an invalid value in one profile column exceeds this percentage.')
@minValue(1)
@maxValue(100)
param invalidSharePercent int

@description('Alert when the audience size Snap reports drops by more than this percentage since the export\'s previous run.')
@minValue(1)
@maxValue(100)
param audienceDropPercent int

@description('Alert when an active scheduled export has had no successful run for this many days.')
@minValue(1)
@maxValue(365)
param staleAfterDays int

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-alerts'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'snapaudsync'
    enabled: true
    emailReceivers: [for (address, i) in emailAddresses: {
      name: 'email-${i}'
      emailAddress: address
      useCommonAlertSchema: true
    }]
  }
}

resource runFailed 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = {
  name: '${namePrefix}-run-failed'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Snap audience sync: the latest run of an export failed'
    description: 'The export\'s latest run ended failed. Open the run report (GET /api/runs/{run_id}) or the workbook for the error; README "Alerts" says what to do. Resolves when a later run of the export does not fail.'
    severity: 1
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'P2D'
    criteria: {
      allOf: [
        {
          query: loadTextContent('queries/run-failed.kql')
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'failed'
          dimensions: [
            {
              name: 'export_id'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'export_name'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    skipQueryValidation: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource invalidShare 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = {
  name: '${namePrefix}-invalid-share'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Snap audience sync: too many invalid values in an export'
    description: 'In the export\'s latest run more than ${invalidSharePercent}% of the rows held an invalid value in one profile column. See the workbook ("Invalid values by column and reason"); README "Alerts" says what to do.'
    severity: 2
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'P2D'
    criteria: {
      allOf: [
        {
          query: loadTextContent('queries/invalid-share.kql')
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'invalid_percent'
          dimensions: [
            {
              name: 'export_id'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'export_name'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: invalidSharePercent
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    skipQueryValidation: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource audienceDrop 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = {
  name: '${namePrefix}-audience-drop'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Snap audience sync: an audience shrank'
    description: 'The audience size Snap reported after the export\'s latest run is more than ${audienceDropPercent}% below the size at its previous run. See the workbook ("Audience size after each run"); README "Alerts" says what to do.'
    severity: 2
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'P2D'
    criteria: {
      allOf: [
        {
          query: loadTextContent('queries/audience-drop.kql')
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'audience_drop_percent'
          dimensions: [
            {
              name: 'export_id'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'export_name'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: audienceDropPercent
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    skipQueryValidation: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource exportStale 'Microsoft.Insights/scheduledQueryRules@2026-03-01' = {
  name: '${namePrefix}-export-stale'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Snap audience sync: a scheduled export has not succeeded for ${staleAfterDays} days'
    description: 'An active export scheduled with every refresh has had no successful run for more than ${staleAfterDays} days. See the workbook ("Scheduled exports"); README "Alerts" says what to do.'
    severity: 1
    enabled: true
    scopes: [
      workspace.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'P2D'
    criteria: {
      allOf: [
        {
          query: loadTextContent('queries/export-stale.kql')
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'hours_without_success'
          dimensions: [
            {
              name: 'export_id'
              operator: 'Include'
              values: [
                '*'
              ]
            }
            {
              name: 'export_name'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: staleAfterDays * 24
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    skipQueryValidation: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

output actionGroupName string = actionGroup.name
output ruleNames array = [
  runFailed.name
  invalidShare.name
  audienceDrop.name
  exportStale.name
]
