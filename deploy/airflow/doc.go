// Package airflow holds athlake's Airflow DAGs (athlake_dag.py beside this
// file: KubernetesPodOperator tasks of the cncf.kubernetes provider). Its
// test runs the DAG file with python3 against stubs of exactly the Airflow
// and Kubernetes client names it imports (testdata/stubs), not a real
// Airflow: it checks the operators' arguments, decodes the pods they
// describe strictly into the Kubernetes API types, checks what each athlake
// exit code does to the task, loads the configs the pods mount (the
// ConfigMaps of deploy/kubernetes) with the real config loader, and runs
// the pods' command lines with the release binary.
package airflow
